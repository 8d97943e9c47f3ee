"""Text for a QuickBooks Desktop company file, which keeps only ISO-8859-1: anything outside it
would be stored as `?` or break the parse (docs/reference/quickbooks-desktop.md#envelope-version-and-encoding).
Characters outside Latin-1 are transliterated (AnyAscii: "Дмитрий" -> "Dmitrii", "東京" ->
"DongJing"); text that has no transliteration at all is refused, never sent as `?`."""

from __future__ import annotations

import unicodedata

from anyascii import anyascii


class NotLatin1(ValueError):
    """The text has characters with no Latin-1 form and no transliteration."""


def to_latin1(text: str) -> str:
    """`text` as ISO-8859-1 text: kept where it already is (é, ß, ü stay), transliterated
    otherwise. Raises NotLatin1 when a character has no transliteration."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        ascii_form = anyascii(char)
        if not ascii_form:
            raise NotLatin1(f"{char!r} (U+{ord(char):04X}) has no ISO-8859-1 form")
        out.append(ascii_form)
    return "".join(out)
