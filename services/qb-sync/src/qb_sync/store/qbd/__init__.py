"""Every SQL statement of the QuickBooks Desktop side: connections, Web Connector sessions, the
request queue and the imported customers (migrations/009_qbd_web_connector.sql)."""
