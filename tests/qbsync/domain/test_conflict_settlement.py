"""A person's answer to a conflict, and what the next push then sends. Pure: no I/O."""

from __future__ import annotations

from qb_sync.domain import fields
from qb_sync.domain.conflict_settlement import settle
from qb_sync.domain.outcomes import linked

CONFLICT = {"CompanyName": {"platform": "Ours", "quickbooks": "Theirs", "base": "Old"}}


def wanted_now() -> dict[str, object]:
    return fields.desired({"display_name": "Acme", "company_name": "Ours"})


def test_keep_quickbooks_counts_the_platform_value_as_reconciled() -> None:
    before = {"DisplayName": "Acme", "Active": True, "CompanyName": "Old"}
    held = {"DisplayName": "Acme", "Active": True, "Job": False, "CompanyName": "Theirs"}
    platform, pushed = settle(before, held, CONFLICT, wanted_now(), "quickbooks")
    assert pushed == held
    wanted = wanted_now()
    # The next push sends nothing: QuickBooks' value stays.
    assert fields.to_send(platform, wanted, held, fields.quickbooks_values(wanted, None)) == {}


def test_keep_platform_pushes_the_conflicting_field_over_quickbooks() -> None:
    before = {"DisplayName": "Acme", "Active": True, "CompanyName": "Old"}
    held = {"DisplayName": "Acme", "Active": True, "Job": False, "CompanyName": "Theirs"}
    platform, _ = settle(before, held, CONFLICT, wanted_now(), "platform")
    assert platform["CompanyName"] == fields.FORCE_PUSH
    wanted = wanted_now()
    sent = fields.to_send(platform, wanted, held, fields.quickbooks_values(wanted, None))
    assert sent == {"CompanyName": "Ours"}


def test_a_conflict_without_its_fields_is_settled_for_the_whole_customer() -> None:
    platform, pushed = settle(
        {"DisplayName": "Acme"}, {"x": 1}, {"5010": True}, wanted_now(), "platform"
    )
    assert (platform, pushed) == ({}, None)  # everything differing goes out, read afresh
    platform, pushed = settle({}, {"x": 1}, None, wanted_now(), "quickbooks")
    assert (platform, pushed) == (wanted_now(), None)


def test_a_link_whose_customer_differs_stays_pending_for_an_update() -> None:
    wanted = wanted_now()
    customer = {"Id": "5", "SyncToken": "0", "DisplayName": "Acme", "Active": True}
    outcome = linked(customer, "created", wanted, fields.quickbooks_values(wanted, None))
    assert outcome.kind == "linked" and outcome.more and outcome.platform == {}
    same = customer | {"CompanyName": "Ours"}
    outcome = linked(same, "created", wanted, fields.quickbooks_values(wanted, None))
    assert not outcome.more and outcome.platform == wanted
