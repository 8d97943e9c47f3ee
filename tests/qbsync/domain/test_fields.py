"""`fields.to_send`: the sparse update a push sends. Pure: no database, no QuickBooks."""

from __future__ import annotations

from qb_sync.domain import fields


def snapshot(**values: object) -> dict[str, object]:
    return {"customer_id": "c1", "version": 1, "display_name": "Acme", **values}


def test_only_fields_the_platform_changed_are_sent_so_quickbooks_edits_survive() -> None:
    before = fields.desired(snapshot(email="a@x.test", phone="1"))
    wanted = fields.desired(snapshot(email="b@x.test", phone="1"))
    # QuickBooks changed the phone meanwhile; the platform changed only the email.
    held = fields.quickbooks_values(before, None) | {"PrimaryPhone": {"FreeFormNumber": "2"}}
    sent = fields.to_send(before, wanted, held, fields.quickbooks_values(wanted, None))
    assert sent == {"PrimaryEmailAddr": {"Address": "b@x.test"}}


def test_a_value_quickbooks_already_holds_is_not_sent_again() -> None:
    wanted = fields.desired(snapshot(email="b@x.test"))
    wanted_qb = fields.quickbooks_values(wanted, None)
    assert fields.to_send(None, wanted, dict(wanted_qb), wanted_qb) == {}


def test_a_cleared_field_is_sent_in_its_empty_form() -> None:
    before = fields.desired(snapshot(company_name="Acme Ltd", website="https://acme.test"))
    wanted = fields.desired(snapshot())
    held = fields.quickbooks_values(before, None)
    sent = fields.to_send(before, wanted, held, fields.quickbooks_values(wanted, None))
    assert sent == {"CompanyName": "", "WebAddr": {"URI": ""}}


def test_a_new_parent_sends_job_and_parent_ref_together() -> None:
    before = fields.desired(snapshot())
    wanted = fields.desired(snapshot(parent_id="p1"))
    held = fields.quickbooks_values(before, None)
    sent = fields.to_send(before, wanted, held, fields.quickbooks_values(wanted, "77"))
    assert sent == {"Job": True, "ParentRef": {"value": "77"}}


def test_without_a_last_reconcile_every_differing_field_is_sent() -> None:
    wanted = fields.desired(snapshot(email="b@x.test", active=False))
    held = {"DisplayName": "Acme", "Active": True, "Job": False}
    sent = fields.to_send(None, wanted, held, fields.quickbooks_values(wanted, None))
    assert sent == {"PrimaryEmailAddr": {"Address": "b@x.test"}, "Active": False}


def test_names_lose_the_characters_quickbooks_refuses() -> None:
    assert fields.desired(snapshot(display_name="A:B\tC"))["DisplayName"] != "A:B\tC"
    assert ":" not in fields.desired(snapshot(display_name="A:B"))["DisplayName"]


def test_fields_of_an_update_in_doubt_are_compared_with_quickbooks_again() -> None:
    # Renamed Acme -> Beta (answer lost, QuickBooks holds Beta), then back to Acme on the
    # platform: unchanged since the last reconcile, yet it must be sent back.
    wanted = fields.desired(snapshot(phone="1"))
    wanted_qb = fields.quickbooks_values(wanted, None)
    held = wanted_qb | {"DisplayName": "Beta", "PrimaryPhone": {"FreeFormNumber": "2"}}
    assert fields.to_send(wanted, wanted, held, wanted_qb) == {}
    before = fields.with_doubt(wanted, {"DisplayName": "Beta"})
    # The phone QuickBooks changed on its own still survives.
    assert fields.to_send(before, wanted, held, wanted_qb) == {"DisplayName": "Acme"}
