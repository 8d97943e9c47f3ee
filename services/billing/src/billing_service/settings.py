from __future__ import annotations

from platform_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    http_port: int = 8002
    # Overridable so tests and benchmarks can run on their own schema and topics.
    billing_schema: str = "billing"
    transactions_topic: str = "billing.transactions"
    customer_topic: str = "customer.events"
    consumer_name: str = "billing"
    # One database transaction per poll: bigger polls amortise the commit (bench/billing_ingest.py).
    consumer_max_records: int = 5000
    # Consumer group members per process (see app.py).
    consumer_members: int = 2
    run_consumers: bool = True
    # The consumer's set-based fast path (store/staged.py); off: every transaction through
    # write_facts alone, the reference path (a switch for an operator who suspects the fast one).
    staged_writes: bool = True
    # Overdue depends on the calendar, not only on events: re-check every account this often.
    overdue_sweep_seconds: float = 300.0
    # A transaction parked for its customer (or for the entry it corrects) longer than this is
    # dead-lettered with the reason (handlers/expire_parked.py); checked every `..._check_seconds`.
    parked_max_wait_seconds: float = 7 * 24 * 3600.0
    parked_check_seconds: float = 300.0
