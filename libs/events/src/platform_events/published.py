"""What has been published: every version of each schema a consumer may have been built against.

The compatibility check compares the models with this baseline, never with the files it is about
to regenerate, so deleting or rewriting a schema file cannot hide a breaking change. Two sources:

- every committed version of every schema file in git history (a version counts as published once
  it is committed), when the checkout has history; and
- `published-types.txt`, an append-only record of every event type ever published. A recorded
  type must still have a model, and a schema to compare with, even in a shallow clone or a
  tarball without history. Lines are only ever added (the writer does it); with history, every
  type in any committed version of the record stays recorded.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORD_NAME = "published-types.txt"
_NOT_SCHEMAS = {"asyncapi"}
_RECORD_HEADER = (
    "# Every event type ever published, one per line. Append-only: the schema writer adds new\n"
    "# types; a type listed here can never be removed or broken (publish a new .vN beside it).\n"
)


@dataclass
class Baseline:
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    recorded: set[str] = field(default_factory=set)
    has_history: bool = False

    def add(self, name: str, schema: dict[str, Any]) -> None:
        known = self.versions.setdefault(name, [])
        if schema not in known:
            known.append(schema)


def record_path(schema_dir: Path) -> Path:
    return schema_dir / RECORD_NAME


def parse_record(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def append_to_record(schema_dir: Path, names: list[str]) -> None:
    path = record_path(schema_dir)
    text = path.read_text() if path.exists() else _RECORD_HEADER
    new = [name for name in names if name not in set(parse_record(text))]
    if new:
        path.write_text(text + "".join(f"{name}\n" for name in new))


def load_baseline(schema_dir: Path) -> Baseline:
    baseline = Baseline()
    record = record_path(schema_dir)
    if record.exists():
        baseline.recorded.update(parse_record(record.read_text()))
    blobs = _committed_blobs(schema_dir)
    if blobs is not None:
        baseline.has_history = True
        for file_name, text in blobs:
            if file_name == RECORD_NAME:
                baseline.recorded.update(parse_record(text))
            elif file_name.endswith(".json") and file_name[:-5] not in _NOT_SCHEMAS:
                baseline.add(file_name[:-5], json.loads(text))
    else:
        # No history (a tarball): the files on disk are the only published versions we can see.
        for path in sorted(schema_dir.glob("*.json")):
            if path.stem not in _NOT_SCHEMAS:
                baseline.add(path.stem, json.loads(path.read_text()))
    return baseline


def _git(schema_dir: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(schema_dir), *args], input=stdin, capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _committed_blobs(schema_dir: Path) -> list[tuple[str, str]] | None:
    """(file name, content) of every version of every file under schema_dir reachable from HEAD;
    None when there is no git history to read."""
    if not schema_dir.is_dir() or _git(schema_dir, "rev-parse", "--verify", "-q", "HEAD") is None:
        return None
    log = _git(schema_dir, "log", "--format=", "--raw", "--no-abbrev", "--root", "-m", "--", ".")
    if log is None:
        return None
    wanted: dict[str, str] = {}
    for line in log.decode().splitlines():
        if not line.startswith(":"):
            continue
        meta, _, path = line.partition("\t")
        new_blob = meta.split()[3]
        if set(new_blob) != {"0"}:  # all zeros: the file was deleted in that commit
            wanted[new_blob] = Path(path.split("\t")[-1]).name
    if not wanted:
        return []
    out = _git(schema_dir, "cat-file", "--batch", stdin="\n".join(wanted).encode() + b"\n")
    if out is None:
        return None
    blobs: list[tuple[str, str]] = []
    position = 0
    while position < len(out):
        header_end = out.index(b"\n", position)
        fields = out[position:header_end].decode().split()
        start = header_end + 1
        if len(fields) != 3:  # "<sha> missing": beyond a shallow clone's edge
            position = start
            continue
        sha, _kind, size = fields
        blobs.append((wanted[sha], out[start : start + int(size)].decode()))
        position = start + int(size) + 1
    return blobs
