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


MAX_FILENAME = 255
_MAX_EXTENSION = 16


def safe_filename(sent: str | None) -> str:
    """The name a file is stored and served under: the last path segment only (a client's
    `../../etc/passwd` is `passwd`), no control characters (NUL included), NFC, no leading dots,
    and at most 255 characters with the extension kept when the stem has to be cut."""
    name = unicodedata.normalize("NFC", sent or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = name.strip().lstrip(".").strip()
    if not name:
        return "attachment"
    if len(name) <= MAX_FILENAME:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION:
        return name[:MAX_FILENAME]
    return stem[: MAX_FILENAME - len(extension) - 1].rstrip() + "." + extension
