"""QuickBooks Desktop's pure parts: the Web Connector's SOAP envelopes (`soap`), qbXML requests
and answers (`qbxml`), the .qwc file (`qwc`), password hashing (`passwords`) and the records the
store hands around (`records`). Facts: docs/reference/quickbooks-desktop.md."""
