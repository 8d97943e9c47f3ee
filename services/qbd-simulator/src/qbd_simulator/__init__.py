"""QuickBooks Desktop, simulated: a company file that answers qbXML (`company`) and a Web
Connector that drives a SOAP service with it (`connector`). Behaviours and their public sources:
README.md beside this package."""
