"""Domain rules without I/O: references and defaults, changes, hierarchy, import, mapping rows."""

from __future__ import annotations

import pytest

from customer_service.domain.attachments import content_problem
from customer_service.domain.customer import apply_changes, new_customer, set_active, snapshot_of
from customer_service.domain.errors import ValidationFailed
from customer_service.domain.hierarchy import check_new_parent
from customer_service.domain.importing import QuickBooksCustomer, customer_values_from_quickbooks
from customer_service.domain.mapping import (
    CurrentMapping,
    RequestedRow,
    check_default_choice,
    rows_to_apply,
)
from customer_service.domain.reference import (
    ReferenceList,
    ReferenceLists,
    fill_and_check_references,
)

LISTS = ReferenceLists(
    {
        "currency": ReferenceList(frozenset({"USD", "EUR"}), "USD"),
        "category": ReferenceList(frozenset({"Retail"}), "Retail"),
        "terms": ReferenceList(frozenset({"Net 30"}), None),
        "sales_rep": ReferenceList(frozenset({"House"}), "House"),
    }
)


def test_defaults_fill_missing_required_references_and_unknown_values_are_named():
    with pytest.raises(ValidationFailed) as failed:
        fill_and_check_references({"currency": "GBP"}, LISTS, creating=True)
    assert {(p.field, p.code) for p in failed.value.problems} == {
        ("currency", "unknown_reference"),
        ("terms", "missing"),
    }
    filled = fill_and_check_references({"terms": "Net 30"}, LISTS, creating=True)
    assert (filled["currency"], filled["category"], filled["sales_rep"]) == (
        "USD",
        "Retail",
        "House",
    )


def test_only_real_changes_bump_the_version():
    customer = new_customer(
        "t", "c1", {"company_name": "A", "tracking_number": "1", "currency": "USD"}
    )
    same = apply_changes(customer, {"company_name": "A"})
    assert not same.changed and same.customer.version == 1
    changed = apply_changes(customer, {"company_name": "B", "phone": "1"})
    assert changed.changed_fields == ["company_name", "phone"]
    assert changed.customer.version == 2
    inactive = set_active(changed.customer, False)
    assert snapshot_of(inactive.customer).active is False
    assert not set_active(inactive.customer, False).changed


def test_a_parent_chain_that_contains_the_customer_is_a_cycle():
    check_new_parent("me", ["parent", "grandparent"])
    with pytest.raises(ValidationFailed):
        check_new_parent("me", ["parent", "me"])
    with pytest.raises(ValidationFailed):
        check_new_parent(None, ["1", "2", "3", "4", "5"])


def test_import_rules_fall_back_as_the_seeds_say():
    qb = QuickBooksCustomer(
        realm_id="r", qb_customer_id="1", display_name="Jo's", given_name="Jo",
        billing_address={"Line1": "1 Road", "CountrySubDivisionCode": "CA"},
    )  # fmt: skip
    values = customer_values_from_quickbooks(qb)
    assert values["company_name"] == "Jo's"  # no company name: the display name
    assert values["delivery_address"] == values["billing_address"]
    assert values["billing_address"]["region"] == "CA"
    assert values["contact_name"] == "Jo"


def test_the_default_choice_only_touches_rows_without_a_mapping():
    current = {"1": CurrentMapping("1", "create_here", "c1")}
    changes = rows_to_apply(
        ["1", "2", "3"], current, [RequestedRow("3", "dont_import")], "create_here"
    )
    assert [(c.qb_customer_id, c.choice) for c in changes] == [
        ("3", "dont_import"),
        ("2", "create_here"),
    ]
    relink = rows_to_apply(["1"], current, [RequestedRow("1", "link_existing", "c9")], None)
    assert relink[0].previous == current["1"] and relink[0].customer_id == "c9"
    check_default_choice("create_here")
    with pytest.raises(ValidationFailed) as refused:
        check_default_choice("link_existing")  # a default has no customer to link to
    assert refused.value.problems[0].field == "default_choice"


def test_attachments_must_be_allowed_and_match_their_bytes():
    assert content_problem("application/pdf", b"%PDF-1.7") is None
    assert content_problem("application/pdf", b"MZ") is not None
    assert content_problem("application/x-msdownload", b"MZ") is not None
    assert content_problem("text/csv; charset=utf-8", b"a,b\n") is None
    assert content_problem("text/plain", b"\x00\x01") is not None
