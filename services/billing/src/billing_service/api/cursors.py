"""The history's page cursor: an opaque token over the ledger's sequence number."""

from __future__ import annotations

import base64
import binascii

from platform_kit.http import ApiError, field_error


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """A cursor is client input: anything this API did not issue is a 422."""
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        seq = int(value)
        if kind != "seq" or not 0 <= seq < 2**63:  # the ledger's seq is a positive bigint
            raise ValueError(kind)
        return seq
    except (ValueError, binascii.Error, UnicodeError):
        raise ApiError(
            422, "validation_failed", "bad cursor", [field_error("cursor", "not a cursor")]
        ) from None
