"""qb-sync's shape, as the next engineer relies on it: only store/ runs SQL, and the push tables
are read and written only by the store of push rows (store/push/), so one package holds every
statement on them. The layers themselves are checked by import-linter
(services/qb-sync/pyproject.toml, docs/decisions/0014-qbsync-layers.md)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "services" / "qb-sync" / "src" / "qb_sync"
DATABASE_CALL = re.compile(r"\.(execute|executemany|fetch|fetchrow|fetchval)\(")
PUSH_TABLES = re.compile(
    r"\b(push_mappings|push_customers|push_name_claims|push_mapping_sequences)\b"
)


def test_only_the_push_store_touches_the_push_tables() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.parent != SRC / "store" / "push" and PUSH_TABLES.search(path.read_text())
    ]
    assert offenders == []
    assert any(PUSH_TABLES.search(p.read_text()) for p in (SRC / "store" / "push").glob("*.py"))


def test_only_the_store_runs_sql() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if SRC / "store" not in path.parents and DATABASE_CALL.search(path.read_text())
    ]
    assert offenders == []
    assert DATABASE_CALL.search((SRC / "store" / "push" / "intent.py").read_text())
