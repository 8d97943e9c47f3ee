"""What a Desktop CustomerRet shows in the customer service's QuickBooks directory."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from platform_events.contracts.quickbooks import QuickBooksCustomerMirrored
from qb_sync.domain.qbd.directory import digest, mirror_fields
from qb_sync.domain.qbd.qbxml import imported_customer

JOB = """<CustomerRet><ListID>80000002-1</ListID><EditSequence>1700000001</EditSequence>
<Name>Warehouse 2</Name><FullName>Acme Inc:Warehouse 2</FullName><IsActive>false</IsActive>
<ParentRef><ListID>80000001-1</ListID><FullName>Acme Inc</FullName></ParentRef>
<Sublevel>1</Sublevel><CompanyName>Acme Incorporated</CompanyName>
<BillAddress><Addr1>12 Harbour Road</Addr1><Addr2>Unit 4</Addr2><City>Bristol</City>
<State>Avon</State><PostalCode>BS1 4DJ</PostalCode></BillAddress>
<Phone>0117 496 0000</Phone><Email>ap@acme.test</Email><Contact>Front Desk</Contact>
<ContactsRet><ListID>8-1</ListID><FirstName>Grace</FirstName><LastName>Hopper</LastName>
<AdditionalContactRef><ContactName>Main Email</ContactName><ContactValue>grace@acme.test</ContactValue></AdditionalContactRef>
<AdditionalContactRef><ContactName>Mobile</ContactName><ContactValue>07700 900001</ContactValue></AdditionalContactRef>
</ContactsRet>
<TimeModified>2026-12-01T10:00:00-08:00</TimeModified></CustomerRet>"""


def fields_of(xml: str, **kwargs: bool) -> dict[str, object]:
    return mirror_fields(imported_customer(ET.fromstring(xml)), **kwargs)


def test_a_job_shows_its_name_full_name_parent_and_online_shaped_addresses() -> None:
    fields = fields_of(JOB)
    assert fields["provider"] == "qbd"
    assert (fields["display_name"], fields["full_name"]) == ("Warehouse 2", "Acme Inc:Warehouse 2")
    assert fields["parent_qb_customer_id"] == "80000001-1"
    assert fields["active"] is False
    assert fields["billing_address"] == {
        "Line1": "12 Harbour Road",
        "Line2": "Unit 4",
        "City": "Bristol",
        "CountrySubDivisionCode": "Avon",
        "PostalCode": "BS1 4DJ",
    }
    assert fields["shipping_address"] is None
    # The event validates: a Desktop customer is a QuickBooks customer like any other.
    QuickBooksCustomerMirrored(realm_id="r", sync_token=1, **fields)


def test_contacts_come_from_contacts_ret_with_their_email_and_mobile() -> None:
    assert fields_of(JOB)["contacts"] == [
        {"name": "Grace Hopper", "email": "grace@acme.test", "phone": None,
         "mobile": "07700 900001"}
    ]  # fmt: skip


def test_without_contacts_ret_the_flat_contact_is_the_one_contact() -> None:
    flat = JOB[: JOB.index("<ContactsRet>")] + JOB[JOB.index("<TimeModified>") :]
    assert fields_of(flat)["contacts"] == [
        {"name": "Front Desk", "email": "ap@acme.test", "phone": "0117 496 0000", "mobile": None}
    ]


def test_a_deleted_customer_shows_deleted_and_inactive() -> None:
    fields = fields_of(JOB.replace("<IsActive>false", "<IsActive>true"), deleted=True)
    assert (fields["deleted"], fields["active"]) == (True, False)


def test_the_digest_changes_only_with_what_shows() -> None:
    again = JOB.replace("1700000001", "1700000002").replace("10:00:00", "11:00:00")
    assert digest(fields_of(JOB)) == digest(fields_of(again))
    assert digest(fields_of(JOB)) != digest(fields_of(JOB.replace("Unit 4", "Unit 5")))
