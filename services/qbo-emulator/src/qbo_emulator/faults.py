"""QuickBooks error envelopes: the JSON `Fault`, the lower-case 401 body and the XML 429 body."""

from __future__ import annotations

from typing import Any


class QBOFault(Exception):
    """A business or validation fault answered as `{"Fault": {...}}`."""

    def __init__(
        self,
        code: int,
        message: str,
        detail: str = "",
        *,
        element: str | None = None,
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "Message": self.message,
            "Detail": self.detail,
            "code": str(self.code),
        }
        if self.element:
            error["element"] = self.element
        return {"Error": [error], "type": self.fault_type}


def not_found(entity_id: str) -> QBOFault:
    return QBOFault(
        610,
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees.",
        element=f"Id={entity_id}",
    )


def stale_object() -> QBOFault:
    return QBOFault(
        5010,
        "Stale Object Error",
        "Stale Object Error : You and Emulator User were working on this at the same time. "
        "Emulator User finished before you did, so your work was not saved.",
    )


def duplicate_name(existing_id: str) -> QBOFault:
    return QBOFault(
        6240,
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee is already "
        "using this name. Please use a different name.",
        element=f"Id={existing_id}",
    )


def business(detail: str, element: str | None = None) -> QBOFault:
    """6000 is QBO's generic business-rule fault; used where the real code is unknown."""
    return QBOFault(
        6000,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def length_error(element: str, limit: int, supplied: int) -> QBOFault:
    """Real answers: ruckus/quickbooks-ruby#436, consolibyte/quickbooks-php#79 (code 2050)."""
    return QBOFault(
        2050,
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{limit} "
        f"supported. Supplied length:{supplied}",
        element=element,
    )


def required(element: str, detail: str = "") -> QBOFault:
    return QBOFault(
        2020,
        "Required param missing, need to supply the required value for the API",
        detail or f"Required parameter {element} is missing in the request",
        element=element,
    )


def query_error(detail: str) -> QBOFault:
    return QBOFault(4000, "Error parsing query", f"QueryParserError: {detail}")


def unsupported(detail: str, status: int = 400) -> QBOFault:
    return QBOFault(500, "Unsupported Operation", detail, status=status)


def unknown_resource(method: str, path: str, url: str) -> QBOFault:
    """What QuickBooks answers for an entity or operation it does not serve: a write gets 400
    "Unsupported Operation" (code 500, real answer quoted in minimul/qbo_api#81), a read the
    SystemFault 10000 "Could not find resource" (real answer quoted in
    grue/django-quickbooks-online#12; its HTTP status is not shown there, 500 is a decision)."""
    relative = f"Could not find resource for relative : {path} of full path: {url}"
    if method.upper() == "GET":
        return QBOFault(
            10000,
            "An application error has occurred while processing your request",
            f"System Failure Error: {relative}",
            status=500,
            fault_type="SystemFault",
        )
    return unsupported(f"Operation {relative} is not supported.")


def deactivate_with_balance() -> QBOFault:
    """Making a customer with an open balance inactive; Message and Detail from Intuit's real
    answer (ruckus/quickbooks-ruby#390). The numeric code is not in any source found: 6000, the
    business-validation code, is an emulator decision."""
    return QBOFault(
        6000,
        "Delete List Has Balance Error",
        "The entity you are trying to delete has an open balance. : This customer cannot be "
        "deleted because it has a non-zero balance",
        element="Active",
    )


def max_results_too_large(value: int, maximum: int) -> QBOFault:
    """Intuit's answer to MAXRESULTS over the maximum (ruckus/quickbooks-ruby#24)."""
    return QBOFault(
        4001,
        "Invalid query",
        f"QueryValidationError: value {value} is too large. Max allowed value is {maximum}",
    )


def auth_failed_body(detail: str) -> dict[str, Any]:
    """401 body: note the lower-case keys (python-quickbooks#118)."""
    return {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        }
    }


def forbidden_body() -> dict[str, Any]:
    return {
        "fault": {
            "error": [
                {
                    "message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                    "detail": "The application is not authorized for this company.",
                    "code": "3100",
                }
            ],
            "type": "AUTHORIZATION",
        }
    }


def throttle_xml(time_text: str) -> str:
    """429 body: XML even when JSON was asked for (python-quickbooks#43)."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time_text}">'
        '<Fault type="SERVICE"><Error code="3001">'
        "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
        "<Detail>The request limit was reached.  Try again later</Detail>"
        "</Error></Fault></IntuitResponse>"
    )
