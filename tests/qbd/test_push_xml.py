"""The qbXML a Desktop push sends, without I/O: schema order, Latin-1, length limits, and a
CustomerRet read back in the terms push outcomes use."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from qb_sync.domain import fields
from qb_sync.domain.qbd import push_xml
from qb_sync.domain.qbd.latin1 import NotLatin1, to_latin1
from qbd_simulator.company import CompanyFile
from qbd_simulator.schema import CUSTOMER_ADD, CUSTOMER_MOD, check_sequence


def wanted(**snapshot: object) -> dict[str, object]:
    values = fields.desired({"customer_id": "c1", "version": 1, **snapshot})
    return push_xml.desktop_values(fields.quickbooks_values(values, None))


def test_an_add_with_every_field_is_in_schema_order_and_quickbooks_takes_it() -> None:
    values = wanted(
        display_name="Acme Ltd", company_name="Acme", email="ap@acme.test", phone="555",
        mobile="556", fax="557", billing_address={"line1": "1 Main St", "city": "Springfield"},
        delivery_address={"line1": "2 Dock Rd"}, active=False,
    )  # fmt: skip
    body = push_xml.customer_body("CustomerAdd", values, guid=push_xml.external_guid("t", "c1"))
    check_sequence(body, CUSTOMER_ADD, ("Name",))  # raises on any order the schema refuses
    company = CompanyFile(non_latin1="reject")
    request = push_xml.write_request("CustomerAdd", "r1", body)
    answer = ET.fromstring(company.process(push_xml.message_set("13.0", [request])))
    ret = answer.find("QBXMLMsgsRs/CustomerAddRs/CustomerRet")
    assert ret is not None
    assert fields.current(push_xml.customer_of(ret)) == {
        k: v for k, v in values.items() if k != "Job"
    } | {"Job": False}


def test_a_mod_starts_with_list_id_and_edit_sequence() -> None:
    body = push_xml.customer_body(
        "CustomerMod", {"PrimaryEmailAddr": {"Address": ""}, "Active": True},
        list_id="80000001-1", edit_sequence="17",
    )  # fmt: skip
    check_sequence(body, CUSTOMER_MOD)
    assert [c.tag for c in body] == ["ListID", "EditSequence", "IsActive", "Email"]
    assert body.findtext("Email") == ""  # an empty element clears the field


@pytest.mark.parametrize(
    ("text", "latin1"),
    [
        ("Müller & Søn", "Müller & Søn"),
        ("Дмитрий", "Dmitriy"),
        ("\u0152uvre \u2013 \u201cLtd\u201d", 'Oeuvre - "Ltd"'),
    ],
)
def test_text_keeps_latin1_and_transliterates_the_rest(text: str, latin1: str) -> None:
    assert to_latin1(text) == latin1
    latin1.encode("iso-8859-1")


def test_text_without_any_transliteration_is_refused() -> None:
    with pytest.raises(NotLatin1):
        to_latin1("\U000e0001")  # a language tag: no Latin-1 form at all


def test_names_lose_the_job_separator_and_fit_in_41_characters() -> None:
    assert push_xml.desktop_name("Acme: Warehouse 😀") == "Acme Warehouse grinning"
    assert len(push_xml.desktop_name("x" * 60)) == 41
