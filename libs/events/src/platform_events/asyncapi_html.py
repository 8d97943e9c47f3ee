"""A self-contained HTML view of the AsyncAPI document (no scripts, no CDN): channels with their
Kafka bindings, operations per service, and each message's headers, key and payload schema."""

from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = """body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:.5em;overflow:auto;
max-height:30em}h2{border-bottom:1px solid #999}code{background:#f0f0f0}"""


def _resolve(document: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return target
    return node


def _rows(cells: list[list[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells)


def render_html(document: dict[str, Any]) -> str:
    info = document["info"]
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(info['title'])}"
        f"</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} <small>{escape(info['version'])}</small></h1>",
        f"<p>{escape(info['description'])}</p><p>AsyncAPI {escape(document['asyncapi'])}; "
        "the document itself: <a href='asyncapi.json'>asyncapi.json</a></p>",
        "<h2>Servers</h2><table><tr><th>name</th><th>host</th><th>protocol</th></tr>",
        _rows(
            [
                [escape(n), escape(s["host"]), escape(s["protocol"])]
                for n, s in document.get("servers", {}).items()
            ]
        ),
        "</table><h2>Channels</h2><table><tr><th>topic</th><th>partitions</th>"
        "<th>cleanup.policy</th><th>messages</th><th>description</th></tr>",
    ]
    for name, channel in document["channels"].items():
        kafka = channel["bindings"]["kafka"]
        out.append(
            _rows(
                [
                    [
                        f"<code>{escape(name)}</code>",
                        str(kafka["partitions"]),
                        escape(", ".join(kafka["topicConfiguration"]["cleanup.policy"])),
                        "<br>".join(
                            f"<a href='#{escape(m)}'>{escape(m)}</a>" for m in channel["messages"]
                        ),
                        escape(channel.get("description", "")),
                    ]
                ]
            )
        )
    out.append("</table><h2>Operations</h2><table><tr><th>operation</th><th>summary</th></tr>")
    out.append(
        _rows(
            [
                [f"<code>{escape(k)}</code>", escape(op["summary"])]
                for k, op in document["operations"].items()
            ]
        )
    )
    out.append("</table><h2>Messages</h2>")
    for name, message in document["components"]["messages"].items():
        headers = message["headers"]
        required = set(headers.get("required", []))
        out.append(f"<h3 id='{escape(name)}'>{escape(name)}</h3>")
        out.append(f"<p>content type <code>{escape(message['contentType'])}</code>; key: ")
        out.append(escape(message["bindings"]["kafka"]["key"]["description"]) + "</p>")
        out.append("<table><tr><th>header</th><th>required</th><th>schema</th></tr>")
        out.append(
            _rows(
                [
                    [
                        f"<code>{escape(h)}</code>",
                        "yes" if h in required else "no",
                        escape(json.dumps(s)),
                    ]
                    for h, s in headers["properties"].items()
                ]
            )
        )
        payload = message["payload"]
        data = payload.get("properties", {}).get("data")
        out.append("</table>")
        if data is not None:
            schema = [_resolve(document, part) for part in data.get("allOf", [data])]
            out.append(
                "<p>payload: the <a href='#schema-Envelope'>envelope</a>, whose <code>data</code> "
                f"is:</p><pre>{escape(json.dumps(schema, indent=2))}</pre>"
            )
        else:
            out.append(f"<p>payload: {escape(payload.get('description', ''))}</p>")
    envelope = document["components"]["schemas"]["Envelope"]
    out.append(
        f"<h2 id='schema-Envelope'>Envelope</h2><pre>{escape(json.dumps(envelope, indent=2))}</pre>"
    )
    out.append("</body></html>")
    return "".join(out)
