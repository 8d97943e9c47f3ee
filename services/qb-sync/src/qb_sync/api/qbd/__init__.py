"""QuickBooks Desktop routes: the Web Connector's SOAP endpoint and WSDL (`web_connector`) and a
tenant's Desktop connections (`connections`)."""
