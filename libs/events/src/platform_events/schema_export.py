"""Generate the committed JSON Schemas and the AsyncAPI document from the models.

python -m platform_events.schema_export          # write, refusing breaking changes
python -m platform_events.schema_export --check  # exit 1 if breaking or if the files are stale

Compatibility is judged against every published version (published.py: git history and the
append-only record of published types), never against the files being regenerated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from platform_events.asyncapi import asyncapi_document
from platform_events.compat import breaking_changes
from platform_events.envelope import Envelope
from platform_events.published import (
    Baseline,
    append_to_record,
    load_baseline,
    parse_record,
    record_path,
)
from platform_events.registry import EVENT_TYPES
from platform_events.wire import headers_schema

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
ASYNCAPI_FILE = SCHEMA_DIR / "asyncapi.json"


def event_schemas() -> dict[str, dict[str, Any]]:
    schemas = {"envelope": Envelope.model_json_schema(), "kafka-headers": headers_schema()}
    for event_type, model in sorted(EVENT_TYPES.items()):
        schemas[event_type] = model.model_json_schema()
    return schemas


class BreakingSchemaChange(Exception):
    def __init__(self, problems: dict[str, list[str]]) -> None:
        self.problems = problems
        lines = [f"BREAKING {name}: {p}" for name, found in problems.items() for p in found]
        super().__init__("\n".join(lines))


def rendered_files(
    schema_dir: Path = SCHEMA_DIR, schemas: dict[str, dict[str, Any]] | None = None
) -> dict[Path, str]:
    schemas = event_schemas() if schemas is None else schemas
    files = {schema_dir / f"{name}.json": _dump(schema) for name, schema in schemas.items()}
    files[schema_dir / ASYNCAPI_FILE.name] = _dump(asyncapi_document())
    return files


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def stale_files(
    schema_dir: Path = SCHEMA_DIR, schemas: dict[str, dict[str, Any]] | None = None
) -> list[Path]:
    schemas = event_schemas() if schemas is None else schemas
    rendered = rendered_files(schema_dir, schemas)
    stale = [p for p, text in rendered.items() if not p.exists() or p.read_text() != text]
    stale += [p for p in schema_dir.glob("*.json") if p not in rendered]
    record = record_path(schema_dir)
    recorded = set(parse_record(record.read_text())) if record.exists() else set()
    if not set(schemas) <= recorded:
        stale.append(record)
    return stale


def breaking_against_published(
    schemas: dict[str, dict[str, Any]], baseline: Baseline
) -> dict[str, list[str]]:
    """What the given schemas break of any published version, by event type."""
    found: dict[str, list[str]] = {}

    def report(name: str, problem: str) -> None:
        if problem not in found.setdefault(name, []):
            found[name].append(problem)

    for name in sorted(set(baseline.versions) | baseline.recorded):
        if name not in schemas:
            report(name, "event type removed (publish a new version beside it instead)")
        elif name not in baseline.versions:
            report(
                name,
                "published, but its schema file is missing and there is no git history to "
                f"compare with: restore {name}.json (git checkout) before regenerating",
            )
    for name, schema in schemas.items():
        for published in baseline.versions.get(name, []):
            for problem in breaking_changes(published, schema):
                report(name, problem)
    return found


def committed_breaking_changes(
    schema_dir: Path = SCHEMA_DIR, schemas: dict[str, dict[str, Any]] | None = None
) -> dict[str, list[str]]:
    """Breaking changes of the current models against every published schema version."""
    schemas = event_schemas() if schemas is None else schemas
    return breaking_against_published(schemas, load_baseline(schema_dir))


def write_schemas(
    schema_dir: Path = SCHEMA_DIR, schemas: dict[str, dict[str, Any]] | None = None
) -> list[Path]:
    """Write the schemas, the AsyncAPI document and the record of published types; refuses
    (BreakingSchemaChange, nothing written) when a schema would break a published version."""
    schemas = event_schemas() if schemas is None else schemas
    breaking = committed_breaking_changes(schema_dir, schemas)
    if breaking:
        raise BreakingSchemaChange(breaking)
    schema_dir.mkdir(parents=True, exist_ok=True)
    rendered = rendered_files(schema_dir, schemas)
    for path, text in rendered.items():
        path.write_text(text)
    append_to_record(schema_dir, sorted(schemas))
    return list(rendered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.check:
            breaking = committed_breaking_changes()
            if breaking:
                raise BreakingSchemaChange(breaking)
            stale = stale_files()
            for path in stale:
                print(f"out of date: {path}", file=sys.stderr)
            return 1 if stale else 0
        written = write_schemas()
    except BreakingSchemaChange as exc:
        print(exc, file=sys.stderr)
        print("publish a new .vN event type instead of changing a published one", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} files to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
