"""Every pointer at the project's docs resolves: the file exists and the #heading is in it.

Code comments cite facts as `docs/reference/<file>.md#<heading>`; a renamed heading or file
would otherwise leave them pointing at nothing, unnoticed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".sql", ".tmpl", ".properties", ".yml", ".yaml", ".sh"}
# A path from the repository root, as code comments write it (not a path inside another URL).
ROOTED = re.compile(
    r"(?<![\w./:-])(docs/(?:(?:reference|decisions)/[\w.-]+|architecture)\.md)(#[\w-]+)?"
)
# A relative Markdown link, as the docs write it.
RELATIVE = re.compile(r"\]\(((?!https?:)[\w./-]+?\.md)(#[\w-]+)?\)")


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    return [ROOT / name for name in listed if name and Path(name).suffix in TEXT_SUFFIXES]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", doc.read_text(), flags=re.MULTILINE)
    return {github_slug(heading) for heading in headings}


def _pointers() -> list[tuple[Path, Path, str | None]]:
    found = []
    for source in _tracked_text_files():
        if not source.exists():
            continue
        text = source.read_text(errors="replace")
        for match in ROOTED.finditer(text):
            anchor = match.group(2)[1:] if match.group(2) else None
            found.append((source, ROOT / match.group(1), anchor))
        if source.suffix == ".md":
            for match in RELATIVE.finditer(text):
                target = (source.parent / match.group(1)).resolve()
                anchor = match.group(2)[1:] if match.group(2) else None
                found.append((source, target, anchor))
    return found


def test_the_slug_matches_githubs_for_the_headings_we_write():
    assert github_slug("SyncToken and stale updates (5010)") == "synctoken-and-stale-updates-5010"
    assert github_slug("Idempotency: requestid") == "idempotency-requestid"
    assert github_slug("aiokafka against a 4.x broker") == "aiokafka-against-a-4x-broker"
    assert github_slug("`requestid` in the library") == "requestid-in-the-library"


def test_every_pointer_at_the_docs_names_an_existing_file_and_heading():
    pointers = _pointers()
    assert any(target.name == "quickbooks-online.md" for _, target, _ in pointers)
    broken = [
        f"{source.relative_to(ROOT)} -> {target.relative_to(ROOT)}{'#' + anchor if anchor else ''}"
        for source, target, anchor in pointers
        if not target.is_file() or (anchor is not None and anchor not in _anchors(target))
    ]
    assert broken == []
