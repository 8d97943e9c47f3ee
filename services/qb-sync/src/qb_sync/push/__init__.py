"""Push: platform customers into QuickBooks (mapping state, customer.events consumer, worker)."""
