"""`RowPush`: one leased row being pushed, with what every step of it needs (the database, the
QuickBooks calls made under its lease, the settings). Passed down the create and update paths
so they read as plain functions."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from qb_sync.qbo.customer_calls import CustomerCalls
from qb_sync.settings import Settings
from qb_sync.store.push.rows import Mapping
from qb_sync.usecases.push_lease import PushLease


@dataclass(frozen=True)
class RowPush:
    pool: asyncpg.Pool
    row: Mapping
    lease: PushLease
    qbo: CustomerCalls
    settings: Settings
