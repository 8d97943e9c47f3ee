"""Which files a customer profile accepts: the declared type must be allowed and match the bytes."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

ALLOWED_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "application/msword": "ole",
    "application/vnd.ms-excel": "ole",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "zip",
    "text/csv": "text",
    "text/plain": "text",
}

_MAGIC = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "ole": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "zip": (b"PK\x03\x04",),
}


def content_problem(content_type: str, head: bytes) -> str | None:
    """None when acceptable, else why not."""
    kind = ALLOWED_TYPES.get(content_type.split(";")[0].strip().lower())
    if kind is None:
        return f"content type {content_type!r} is not accepted"
    if kind == "text":
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A cut in the middle of a multi-byte character at the end is fine.
            if exc.start < len(head) - 3:
                return "a text file must be UTF-8"
        return None if b"\x00" not in head else "a text file must not contain NUL bytes"
    if not head.startswith(_MAGIC[kind]):
        return f"the file's bytes are not a {content_type} file"
    return None


def normalised_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def content_disposition(filename: str) -> str:
    """RFC 6266 with RFC 5987's `filename*` for the exact name in UTF-8, and a plain ASCII
    `filename` for clients that know only that. Headers are Latin-1 on the wire, so the name
    itself never goes in raw."""
    name = "".join(ch for ch in filename if ch.isprintable()) or "attachment"
    decomposed = unicodedata.normalize("NFKD", name)
    fallback = "".join(
        ch if ch.isascii() and ch not in '"\\' else "_"
        for ch in decomposed
        if not unicodedata.combining(ch)
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
