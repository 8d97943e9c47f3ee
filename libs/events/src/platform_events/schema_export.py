"""Generate the committed JSON Schemas and the AsyncAPI document from the models.

python -m platform_events.schema_export          # write, refusing breaking changes
python -m platform_events.schema_export --check  # exit 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from platform_events.compat import breaking_changes
from platform_events.envelope import Envelope
from platform_events.registry import EVENT_TYPES
from platform_events.topics import TOPICS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
ASYNCAPI_FILE = SCHEMA_DIR / "asyncapi.json"


def event_schemas() -> dict[str, dict[str, Any]]:
    schemas = {"envelope": Envelope.model_json_schema()}
    for event_type, model in sorted(EVENT_TYPES.items()):
        schemas[event_type] = model.model_json_schema()
    return schemas


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        messages[event_type] = {
            "name": event_type,
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {
                    "ce_type": {"type": "string", "const": event_type},
                    "ce_id": {"type": "string", "format": "uuid"},
                    "correlation_id": {"type": "string"},
                },
            },
            "payload": {"$ref": f"./{event_type}.json", "x-envelope": {"$ref": "./envelope.json"}},
        }
    for spec in TOPICS:
        channels[spec.name] = {
            "address": spec.name,
            "description": spec.description,
            "bindings": {
                "kafka": {
                    "partitions": spec.partitions,
                    "topicConfiguration": {
                        "cleanup.policy": [spec.kafka_config()["cleanup.policy"]],
                    },
                    "x-key": spec.key,
                    "x-producers": list(spec.producers),
                    "x-consumers": list(spec.consumers),
                    "x-dead-letter-topic": spec.dlq,
                }
            },
            "messages": {
                m.event_type: {"$ref": f"#/components/messages/{m.event_type}"}
                for m in spec.event_types
            },
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Customer platform events",
            "version": "1.0.0",
            "description": "Every event travels inside the envelope (envelope.json); "
            "the Kafka key is the aggregate id.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages},
    }


def rendered_files() -> dict[Path, str]:
    files = {SCHEMA_DIR / f"{name}.json": _dump(schema) for name, schema in event_schemas().items()}
    files[ASYNCAPI_FILE] = _dump(asyncapi_document())
    return files


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def stale_files() -> list[Path]:
    stale = [p for p, text in rendered_files().items() if not p.exists() or p.read_text() != text]
    known = set(rendered_files())
    stale += [p for p in SCHEMA_DIR.glob("*.json") if p not in known]
    return stale


def committed_breaking_changes() -> dict[str, list[str]]:
    """Breaking changes of the current models against the committed schemas."""
    found: dict[str, list[str]] = {}
    for name, schema in event_schemas().items():
        committed = SCHEMA_DIR / f"{name}.json"
        if committed.exists():
            problems = breaking_changes(json.loads(committed.read_text()), schema)
            if problems:
                found[name] = problems
    for committed in SCHEMA_DIR.glob("*.json"):
        name = committed.stem
        if committed != ASYNCAPI_FILE and name not in event_schemas():
            found[name] = ["event type removed (publish a new version beside it instead)"]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    breaking = committed_breaking_changes()
    if breaking:
        for name, problems in breaking.items():
            for problem in problems:
                print(f"BREAKING {name}: {problem}", file=sys.stderr)
        print("publish a new .vN event type instead of changing a published one", file=sys.stderr)
        return 1
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in rendered_files().items():
        path.write_text(text)
    print(f"wrote {len(rendered_files())} files to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
