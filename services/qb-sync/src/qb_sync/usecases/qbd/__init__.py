"""QuickBooks Desktop use cases: the Web Connector callbacks (`web_connector`), the customer jobs
they carry (`customer_jobs`) and a tenant's Desktop connections (`desktop_connections`)."""
