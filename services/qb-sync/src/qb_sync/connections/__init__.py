"""QuickBooks connections: encrypted OAuth tokens per (tenant, realm), refresh and connect flows."""
