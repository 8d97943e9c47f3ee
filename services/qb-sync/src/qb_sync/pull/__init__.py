"""Pull: QuickBooks customers into the compacted `qb.customers` mirror (import, CDC, webhooks)."""
