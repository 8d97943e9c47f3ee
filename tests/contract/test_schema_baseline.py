"""The compatibility check compares with what was published, not with the files it regenerates.

Each test builds a small git repository of published schemas (the real ones, written by the real
writer), then tries to sneak a breaking change past the writer the way a person might.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest

from platform_events.published import RECORD_NAME
from platform_events.schema_export import (
    BreakingSchemaChange,
    committed_breaking_changes,
    event_schemas,
    stale_files,
    write_schemas,
)

PAYMENT = "billing.payment-received.v1"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A repository whose history has the current schemas committed, as on the main branch."""
    repo = tmp_path / "repo"
    schema_dir = repo / "schemas"
    schema_dir.mkdir(parents=True)
    git(repo, "init", "-q")
    write_schemas(schema_dir, event_schemas())
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "publish v1 schemas")
    return schema_dir


def without_field(schemas: dict[str, dict[str, Any]], name: str, field: str) -> dict[str, Any]:
    changed = copy.deepcopy(schemas)
    del changed[name]["properties"][field]
    changed[name]["required"] = [f for f in changed[name].get("required", []) if f != field]
    return changed


def test_deleting_a_published_schema_file_and_regenerating_a_breaking_model_is_refused(published):
    (published / f"{PAYMENT}.json").unlink()
    broken = without_field(event_schemas(), PAYMENT, "amount")
    with pytest.raises(BreakingSchemaChange) as refused:
        write_schemas(published, broken)
    assert "amount: field removed" in refused.value.problems[PAYMENT]
    assert not (published / f"{PAYMENT}.json").exists(), "nothing may be written"
    assert "amount: field removed" in committed_breaking_changes(published, broken)[PAYMENT]


def test_a_breaking_change_committed_over_the_published_one_is_still_caught(published):
    """The published version stays in history even after the bad version is committed."""
    broken = without_field(event_schemas(), PAYMENT, "amount")
    (published / f"{PAYMENT}.json").unlink()
    (published.parent / "schemas" / RECORD_NAME).write_text("")  # and the record emptied too
    git(published.parent, "commit", "-q", "-am", "drop it")
    assert "amount: field removed" in committed_breaking_changes(published, broken)[PAYMENT]


def test_in_a_shallow_clone_a_missing_published_file_still_fails(published, tmp_path):
    repo = published.parent
    (published / f"{PAYMENT}.json").unlink()
    git(repo, "commit", "-q", "-am", "delete the payment schema")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    schema_dir = clone / "schemas"
    assert not (schema_dir / f"{PAYMENT}.json").exists()
    broken = without_field(event_schemas(), PAYMENT, "amount")
    with pytest.raises(BreakingSchemaChange) as refused:
        write_schemas(schema_dir, broken)
    assert any("schema file is missing" in p for p in refused.value.problems[PAYMENT])
    assert not (schema_dir / f"{PAYMENT}.json").exists()


def test_without_git_the_record_of_published_types_catches_a_missing_file(published, tmp_path):
    plain = tmp_path / "tarball"
    subprocess.run(["cp", "-r", str(published), str(plain)], check=True)
    (plain / f"{PAYMENT}.json").unlink()
    problems = committed_breaking_changes(plain, event_schemas())
    assert any("schema file is missing" in p for p in problems[PAYMENT])


def test_a_required_field_made_optional_is_refused(published):
    loosened = copy.deepcopy(event_schemas())
    loosened[PAYMENT]["required"].remove("payment_id")
    with pytest.raises(BreakingSchemaChange) as refused:
        write_schemas(published, loosened)
    assert refused.value.problems == {PAYMENT: ["payment_id: no longer required"]}


def test_a_removed_event_type_is_refused(published):
    fewer = {k: v for k, v in event_schemas().items() if k != PAYMENT}
    with pytest.raises(BreakingSchemaChange) as refused:
        write_schemas(published, fewer)
    assert "event type removed" in refused.value.problems[PAYMENT][0]


def test_adding_an_optional_field_is_written_and_then_passes_the_check(published):
    extended = copy.deepcopy(event_schemas())
    extended[PAYMENT]["properties"]["channel"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    write_schemas(published, extended)
    assert '"channel"' in (published / f"{PAYMENT}.json").read_text()
    assert committed_breaking_changes(published, extended) == {}
    assert stale_files(published, extended) == []


def test_a_new_event_type_is_added_to_the_record(published):
    more = {**event_schemas(), "billing.something-new.v1": {"type": "object", "properties": {}}}
    write_schemas(published, more)
    assert "billing.something-new.v1" in (published / RECORD_NAME).read_text().splitlines()
