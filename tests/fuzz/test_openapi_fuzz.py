"""Schemathesis against each service's own OpenAPI document, over HTTP, on the real stack.

Every check is on: no 5xx, every status, content type, header and body as documented, invalid
input refused, valid input accepted, auth not ignored. Stateful runs follow the links
schemathesis infers (a created customer's id into the routes that take one).
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.config import SchemathesisConfig

from billing_service.app import create_app as create_billing_app
from customer_service.app import create_app as create_customer_app
from qb_sync.app import create_app as create_qbsync_app
from tests.fuzz.conftest import EXAMPLES, TOKENS, Target

pytestmark = pytest.mark.integration

# The documents the apps themselves serve, built without starting them (no I/O): the cases are
# known at collection, one test per operation. Requests go to the live servers' base URLs.
# Every check on. Schema-valid input may still be refused by a rule over stored state that no
# schema can say (a value not on the tenant's reference list, a payment in another currency than
# the account's, no QuickBooks customer of that name: 422; an OAuth state that was never issued:
# 400), so those are accepted answers to valid data too. The status must still be documented (status conformance).
# Invalid input refused as too large (413: e.g. more rows than allowed, sent as a huge body) is
# refused all the same.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422"]
            },
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "409", "413", "415", "422"]
            },
        }
    }
)
customer_api = schemathesis.openapi.from_dict(create_customer_app().openapi(), config=CONFIG)
billing_api = schemathesis.openapi.from_dict(create_billing_app().openapi(), config=CONFIG)
# The Web Connector's SOAP endpoint (/qbwc) has its contract in its WSDL, not in OpenAPI: hostile
# SOAP and qbXML are tests/qbd/test_hostile_soap.py and test_hostile_qbxml.py. The Desktop
# connection routes (/quickbooks-desktop/...) are fuzzed like every JSON route.
qbsync_api = schemathesis.openapi.from_dict(create_qbsync_app().openapi(), config=CONFIG).exclude(
    path_regex="^/qbwc"
)


def bearer_for(service: str) -> type:
    class Bearer:
        """The fixture's token; schemathesis also sends cases without it, or with a bad one,
        and expects the 401 the security scheme promises."""

        def get(self, case: schemathesis.Case, ctx: object) -> str:
            return TOKENS.get(service, "cpt_not-started-yet")  # asked at collection too

        def set(self, case: schemathesis.Case, token: str, ctx: object) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    return Bearer


customer_api.auth(refresh_interval=None)(bearer_for("customer"))
billing_api.auth(refresh_interval=None)(bearer_for("billing"))
qbsync_api.auth(refresh_interval=None)(bearer_for("qb-sync"))

BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: a CI failure can be replayed
    database=None,
    suppress_health_check=list(HealthCheck),
)
_turn = itertools.count()


def aim_at_known_customer(case: schemathesis.Case, target: Target) -> None:
    """Every other case names a customer that exists, so the fuzzer reaches past the 404."""
    params = case.path_parameters
    if params and "customer_id" in params and next(_turn) % 2 == 0:
        params["customer_id"] = target.known_customer


def call(case: schemathesis.Case, target: Target) -> None:
    aim_at_known_customer(case, target)
    case.call_and_validate(base_url=target.base_url)


@customer_api.parametrize()
@BUDGET
def test_customer_service_answers_as_documented(
    case: schemathesis.Case, customer_target: Target
) -> None:
    call(case, customer_target)


@billing_api.parametrize()
@BUDGET
def test_billing_service_answers_as_documented(
    case: schemathesis.Case, billing_target: Target
) -> None:
    call(case, billing_target)


@qbsync_api.parametrize()
@BUDGET
def test_qbsync_service_answers_as_documented(
    case: schemathesis.Case, qbsync_target: Target
) -> None:
    call(case, qbsync_target)


def test_customer_service_stateful(customer_target: Target) -> None:
    machine = customer_api.as_state_machine()

    class Machine(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):  # type: ignore[no-untyped-def]
            return {"base_url": customer_target.base_url}

    run_state_machine_as_test(
        Machine,
        settings=settings(BUDGET, max_examples=max(EXAMPLES // 3, 3), stateful_step_count=6),
    )
