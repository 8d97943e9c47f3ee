"""The query language subset (docs/reference/quickbooks-online.md#query-language) through
Customer.all/filter/where/query/count."""

from __future__ import annotations

from typing import Any

import pytest
from quickbooks.exceptions import ValidationException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer, sparse


@pytest.fixture
def people(emulator: EmulatorServer, realm: RealmTokens) -> list[dict[str, Any]]:
    return emulator.seed(
        realm.realm_id,
        "customers",
        [
            {"DisplayName": "Alice Adams", "CompanyName": "Acme"},
            {"DisplayName": "Bob Brown", "CompanyName": "Acme"},
            {"DisplayName": "Carol O'Connor", "CompanyName": "Beta"},
            {"DisplayName": "Dan Dormant", "Active": False},
            {"DisplayName": "Eve Evans", "CompanyName": "Gamma"},
        ],
    )


def names(rows: list[Any]) -> list[str]:
    return [r.DisplayName for r in rows]


def test_select_star_returns_active_customers_in_id_order(qb: Any, people: Any) -> None:
    assert names(Customer.all(qb=qb)) == ["Alice Adams", "Bob Brown", "Carol O'Connor", "Eve Evans"]


def test_active_filter_lifts_the_implicit_active_true(qb: Any, people: Any) -> None:
    assert names(Customer.where("Active = false", qb=qb)) == ["Dan Dormant"]
    assert len(Customer.where("Active IN (true, false)", qb=qb)) == 5


def test_comparison_operators(qb: Any, people: Any) -> None:
    ids = [p["Id"] for p in people]
    assert names(Customer.where(f"Id = '{ids[1]}'", qb=qb)) == ["Bob Brown"]
    assert names(Customer.where(f"Id < '{ids[1]}'", qb=qb)) == ["Alice Adams"]
    assert names(Customer.where(f"Id <= '{ids[1]}'", qb=qb)) == ["Alice Adams", "Bob Brown"]
    assert names(Customer.where(f"Id > '{ids[2]}'", qb=qb)) == ["Eve Evans"]
    assert names(Customer.where(f"Id >= '{ids[2]}'", qb=qb)) == ["Carol O'Connor", "Eve Evans"]
    assert names(Customer.choose([ids[0], ids[4]], qb=qb)) == ["Alice Adams", "Eve Evans"]


def test_like_and_and(qb: Any, people: Any) -> None:
    assert names(Customer.where("DisplayName LIKE 'B%'", qb=qb)) == ["Bob Brown"]
    assert names(Customer.where("DisplayName LIKE '%an%'", qb=qb)) == ["Eve Evans"]
    assert names(Customer.where("CompanyName = 'Acme' AND DisplayName LIKE '%Brown'", qb=qb)) == [
        "Bob Brown"
    ]


def test_backslash_escaped_quote(qb: Any, people: Any) -> None:
    # filter() escapes ' as \' (python-quickbooks#47).
    assert names(Customer.filter(DisplayName="Carol O'Connor", qb=qb)) == ["Carol O'Connor"]


def test_order_by_and_orderby(qb: Any, people: Any) -> None:
    desc = ["Eve Evans", "Carol O'Connor", "Bob Brown", "Alice Adams"]
    assert names(Customer.all(order_by="DisplayName DESC", qb=qb)) == desc  # ORDER BY
    assert names(Customer.where("", order_by="DisplayName DESC", qb=qb)) == desc  # ORDERBY
    assert names(Customer.where("", order_by="CompanyName, DisplayName DESC", qb=qb)) == [
        "Bob Brown",
        "Alice Adams",
        "Carol O'Connor",
        "Eve Evans",
    ]


def test_startposition_is_one_based(qb: Any, people: Any) -> None:
    page = Customer.where("", start_position=2, max_results=2, qb=qb)
    assert names(page) == ["Bob Brown", "Carol O'Connor"]
    reply = qb.query("SELECT * FROM Customer STARTPOSITION 3 MAXRESULTS 10")
    assert reply["QueryResponse"]["startPosition"] == 3
    assert reply["QueryResponse"]["maxResults"] == 2


def test_count_and_empty_result(qb: Any, people: Any) -> None:
    assert Customer.count(qb=qb) == 4
    assert Customer.count("Active IN (true, false)", qb=qb) == 5
    assert qb.query("SELECT * FROM Customer WHERE DisplayName = 'Nobody'")["QueryResponse"] == {}


def test_maxresults_defaults_to_100_and_stops_at_1000(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    emulator.seed(
        realm.realm_id, "customers", [{"DisplayName": f"Bulk {i:04d}"} for i in range(1005)]
    )
    assert len(Customer.filter(Active=True, qb=qb)) == 100  # filter() sends no MAXRESULTS
    assert len(Customer.where("", max_results=1000, qb=qb)) == 1000
    with pytest.raises(ValidationException) as exc:  # Intuit refuses more (ruby#24)
        Customer.where("", max_results=5000, qb=qb)
    assert exc.value.error_code == 4001
    assert len(Customer.where("", start_position=1001, max_results=1000, qb=qb)) == 5


def test_metadata_last_updated_time_filter(
    qb: Any, realm: RealmTokens, emulator: EmulatorServer
) -> None:
    emulator.seed(
        realm.realm_id,
        "customers",
        [
            {"DisplayName": "Old", "MetaData": {"LastUpdatedTime": "2020-01-01T00:00:00-07:00"}},
            {"DisplayName": "New"},
        ],
    )
    assert names(Customer.where("Metadata.LastUpdatedTime > '2021-01-01'", qb=qb)) == ["New"]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM Customer WHERE DisplayName = 'A' OR DisplayName = 'B'",
        "SELECT * FROM customer",  # entity names are case-sensitive
        "SELECT * FROM Customer GROUP BY DisplayName",
        "SELECT DisplayName FROM Customer",
        "SELECT * FROM Customer WHERE DisplayName = 'trailing\\'",  # unterminated literal
        "SELECT * FROM Customer WHERE DisplayName = 'O\u2019Brien'",  # curly apostrophe
        "SELECT * FROM Customer WHERE DisplayName = 'A \u2013 B'",  # en dash
        "SELEC * FROM Customer",
    ],
)
def test_unparseable_queries_are_4000(qb: Any, statement: str) -> None:
    with pytest.raises(ValidationException) as exc:
        Customer.query(statement, qb=qb)
    assert type(exc.value) is ValidationException and exc.value.error_code == 4000
    assert exc.value.message == "Error parsing query"
    assert exc.value.detail.startswith("QueryParserError:")


def test_get_query_string_form(qb: Any, people: Any) -> None:
    url = f"{qb.api_url}/company/{qb.company_id}/query"
    reply = qb.get(url, params={"query": "SELECT COUNT(*) FROM Customer"})
    assert reply["QueryResponse"]["totalCount"] == 4


def test_vendor_query(emulator: EmulatorServer, realm: RealmTokens, qb: Any) -> None:
    from quickbooks.objects.vendor import Vendor

    emulator.seed_vendor(realm.realm_id, "Supplier One")
    assert [v.DisplayName for v in Vendor.all(qb=qb)] == ["Supplier One"]
    created = customer("Query Me").save(qb=qb)
    sparse(qb, {"Id": created.Id, "SyncToken": created.SyncToken, "Notes": "x"})
    assert Customer.filter(DisplayName="query me", qb=qb)[0].Notes == "x"


@pytest.mark.parametrize(
    ("clause", "prop"),
    [
        ("Notes = 'x'", "Notes"),  # a real property, not filterable
        ("PrimaryEmailAddr = 'a@b.example'", "PrimaryEmailAddr"),  # ruckus/quickbooks-ruby#403
        ("NoSuchProperty = 'x'", "NoSuchProperty"),
        ("DisplayName LIKE 'A%' ORDERBY Notes", "Notes"),
    ],
)
def test_non_filterable_properties_are_4001(qb: Any, people: Any, clause: str, prop: str) -> None:
    with pytest.raises(ValidationException) as exc:
        Customer.query(f"SELECT * FROM Customer WHERE {clause}", qb=qb)
    assert type(exc.value) is ValidationException and exc.value.error_code == 4001
    assert exc.value.message == "Invalid query"
    assert exc.value.detail == f"QueryValidationError: property '{prop}' is not queryable"


def test_every_filterable_property_can_be_queried(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    [parent] = emulator.seed(realm.realm_id, "customers", [{"DisplayName": "Filter Parent"}])
    [child] = emulator.seed(
        realm.realm_id,
        "customers",
        [
            {
                "DisplayName": "Filter Child",
                "GivenName": "Fiona",
                "FamilyName": "Filter",
                "CompanyName": "Filter Works",
                "Job": True,
                "ParentRef": {"value": parent["Id"]},
            }
        ],
    )
    both, only_child = ["Filter Parent", "Filter Child"], ["Filter Child"]
    expected = {
        f"Id = '{child['Id']}'": only_child,
        "DisplayName = 'Filter Child'": only_child,
        "GivenName = 'Fiona'": only_child,
        "FamilyName = 'Filter'": only_child,
        "CompanyName = 'Filter Works'": only_child,
        "FullyQualifiedName = 'Filter Parent:Filter Child'": only_child,
        "Active = true AND MetaData.LastUpdatedTime > '2020-01-01'": both,
    }
    for clause, wanted in expected.items():
        assert names(Customer.where(clause, order_by="Id", qb=qb)) == wanted, clause
