"""The three-way merge after a 5010 and the conflict it may end in. Pure: no I/O."""

from __future__ import annotations

from qb_sync.domain.outcomes import Outcome
from qb_sync.domain.three_way_merge import still_stale, three_way

EMAIL_BASE = {"Address": "base@x.test"}
EMAIL_OURS = {"Address": "ours@x.test"}
EMAIL_THEIRS = {"Address": "theirs@x.test"}


def test_a_field_quickbooks_left_alone_is_still_sent() -> None:
    held = {"PrimaryEmailAddr": EMAIL_BASE, "CompanyName": "Old"}
    theirs = {"PrimaryEmailAddr": EMAIL_BASE, "CompanyName": "Renamed there"}
    diff = {"PrimaryEmailAddr": EMAIL_OURS}
    merged = three_way(held, {"PrimaryEmailAddr": EMAIL_OURS}, diff, theirs, {"Id": "1"})
    assert merged == {"PrimaryEmailAddr": EMAIL_OURS}


def test_a_field_quickbooks_already_holds_as_ours_is_dropped() -> None:
    diff = {"PrimaryEmailAddr": EMAIL_OURS}
    theirs = {"PrimaryEmailAddr": EMAIL_OURS}
    merged = three_way({"PrimaryEmailAddr": EMAIL_BASE}, diff, diff, theirs, {"Id": "1"})
    assert merged == {}


def test_a_third_value_is_a_conflict_naming_base_ours_and_theirs() -> None:
    latest = {"Id": "1", "SyncToken": "4"}
    diff = {"PrimaryEmailAddr": EMAIL_OURS}
    theirs = {"PrimaryEmailAddr": EMAIL_THEIRS}
    merged = three_way({"PrimaryEmailAddr": EMAIL_BASE}, diff, diff, theirs, latest)
    assert isinstance(merged, Outcome)
    assert merged.kind == "conflict" and merged.customer == latest
    assert merged.conflict == {
        "PrimaryEmailAddr": {"platform": EMAIL_OURS, "quickbooks": EMAIL_THEIRS, "base": EMAIL_BASE}
    }
    assert merged.qb_content == theirs


def test_a_parent_ref_still_to_send_brings_job_along() -> None:
    diff = {"Job": True, "ParentRef": {"value": "9"}}
    held = {"Job": False}
    theirs = {"Job": True}  # QuickBooks has Job already, not the parent
    merged = three_way(held, diff, diff, theirs, {"Id": "1"})
    assert merged == {"Job": True, "ParentRef": {"value": "9"}}


def test_still_stale_records_every_field_still_to_send() -> None:
    held = {"CompanyName": "Theirs"}
    outcome = still_stale(held, {"CompanyName": "Ours"}, {"CompanyName": "Ours"}, None, 3)
    assert outcome.kind == "conflict" and outcome.code == "5010"
    assert outcome.message == "still stale after 3 tries"
    assert outcome.conflict == {
        "CompanyName": {"platform": "Ours", "quickbooks": "Theirs", "base": "Theirs"}
    }
