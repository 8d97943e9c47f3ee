"""The one QuickBooks Online adapter: every call to QuickBooks goes through `gateway.QboGateway`."""
