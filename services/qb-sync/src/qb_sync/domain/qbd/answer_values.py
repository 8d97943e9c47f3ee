"""The values of a qbXML answer qb-sync relies on, checked before anything is stored: a forged or
broken answer (a statusCode that is not a number, a CustomerRet without its ListID, a date like
2026-02-30, a balance of 1e400, an EditSequence of a megabyte) is refused as a whole with a
reason, instead of failing in PostgreSQL or being kept to break a later query.
Lengths are qbXML's (docs/reference/quickbooks-desktop.md#customer-fields)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

_STATUS = re.compile(r"-?\d{1,9}")
_COUNT = re.compile(r"\d{1,9}")
_AMOUNT = re.compile(r"-?\d{1,15}(\.\d{1,5})?")  # AMTTYPE: never float, never an exponent
# A ListID is QuickBooks' id, e.g. 80000001-1234567890; room to spare, never unbounded.
_LIMITS = {"ListID": 50, "EditSequence": 16, "Name": 41, "FullName": 209}
MAX_SUBLEVEL = 99


class BadAnswer(ValueError):
    """An answer qb-sync will not apply; the message names the value, never echoes it whole."""


def status_code(rs: ET.Element) -> int:
    value = rs.get("statusCode", "1000").strip()
    if not _STATUS.fullmatch(value):
        raise BadAnswer(f"{rs.tag}: statusCode is not a number")
    return int(value)


def count(rs: ET.Element, attribute: str) -> int:
    value = rs.get(attribute, "0").strip()
    if not _COUNT.fullmatch(value):
        raise BadAnswer(f"{rs.tag}: {attribute} is not a count")
    return int(value)


def check_customer_ret(ret: ET.Element) -> None:
    for tag, limit in _LIMITS.items():
        value = ret.findtext(tag)
        if not value:
            raise BadAnswer(f"CustomerRet without {tag}")
        if len(value) > limit:
            raise BadAnswer(f"CustomerRet {tag} longer than {limit} characters")
    parent = ret.findtext("ParentRef/ListID")
    if parent is not None and not 0 < len(parent) <= _LIMITS["ListID"]:
        raise BadAnswer("CustomerRet ParentRef/ListID is empty or too long")
    sublevel = ret.findtext("Sublevel", "0").strip()
    if not sublevel.isascii() or not sublevel.isdigit() or int(sublevel) > MAX_SUBLEVEL:
        raise BadAnswer(f"CustomerRet Sublevel is not a number from 0 to {MAX_SUBLEVEL}")
    if ret.findtext("IsActive", "true") not in ("true", "false"):
        raise BadAnswer("CustomerRet IsActive is not true or false")
    check_datetime(ret, "TimeModified")
    for tag in ("Balance", "TotalBalance"):
        amount = ret.findtext(tag)
        if amount is not None and not _AMOUNT.fullmatch(amount.strip()):
            raise BadAnswer(f"CustomerRet {tag} is not an amount")


def check_datetime(ret: ET.Element, tag: str) -> None:
    """A DATETIMETYPE QuickBooks sends (2026-01-31T10:15:00-08:00); PostgreSQL reads it later."""
    value = ret.findtext(tag)
    if not value:
        raise BadAnswer(f"{ret.tag} without {tag}")
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadAnswer(f"{ret.tag} {tag} is not a date and time") from None
