"""QuickBooks Desktop through the Web Connector: the SOAP endpoint (`routes`, `soap`), its
sessions and work queue in PostgreSQL (`sessions`, `queue`), and the qbXML jobs (`imports`).
Facts: docs/reference/quickbooks-desktop.md."""
