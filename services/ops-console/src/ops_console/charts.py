"""The console's time-series charts: named PromQL over the kit's metrics (platform_kit.metrics)
and qb-sync's call counter. The browser asks for a chart group by name, never for raw PromQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops_console.prometheus import Prometheus


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    unit: str
    expr: str
    # Labels that name one line of the chart, in order (e.g. topic and partition).
    line_labels: tuple[str, ...]
    # One chart per value of this label (e.g. one lag chart per consumer group).
    split_by: str | None = None


FLOW = [
    Chart(
        "lag",
        "Consumer lag",
        "records",
        "max by (consumer, topic, partition) (platform_consumer_lag)",
        ("topic", "partition"),
        split_by="consumer",
    ),
    Chart(
        "outbox-backlog",
        "Outbox backlog",
        "rows",
        "max by (service) (platform_outbox_backlog)",
        ("service",),
    ),
    Chart(
        "outbox-age",
        "Oldest unpublished outbox row",
        "seconds",
        "max by (service) (platform_outbox_oldest_age_seconds)",
        ("service",),
    ),
    Chart(
        "events-in",
        "Events consumed per second",
        "events/s",
        "sum by (consumer) (rate(platform_events_consumed_total[1m]))",
        ("consumer",),
    ),
    Chart(
        "events-out",
        "Events published per second",
        "events/s",
        "sum by (service) (rate(platform_events_published_total[1m]))",
        ("service",),
    ),
]

QUICKBOOKS = [
    Chart(
        "qbo-calls",
        "QuickBooks calls per minute",
        "calls/min",
        "sum by (outcome) (rate(qbsync_qbo_calls_total[1m])) * 60",
        ("outcome",),
    ),
]

GROUPS = {"flow": FLOW, "quickbooks": QUICKBOOKS}


async def render_group(prometheus: Prometheus, group: list[Chart], minutes: int) -> list[Any]:
    """Each chart with its lines; a split chart becomes one chart per value of its label."""
    out: list[dict[str, Any]] = []
    for chart in group:
        series = await prometheus.range(chart.expr, minutes)
        parts: dict[str, list[Any]] = {}
        for s in series:
            part = s.labels.get(chart.split_by, "") if chart.split_by else ""
            parts.setdefault(part, []).append(s)
        if not parts:
            parts[""] = []
        for part, members in sorted(parts.items()):
            out.append(
                {
                    "id": f"{chart.id}-{part}" if part else chart.id,
                    "title": f"{chart.title}: {part}" if part else chart.title,
                    "unit": chart.unit,
                    "lines": sorted(
                        (
                            {
                                "name": _line_name(chart, s.labels),
                                "points": [[t, v] for t, v in s.points],
                            }
                            for s in members
                        ),
                        key=lambda line: line["name"],
                    ),
                }
            )
    return out


def _line_name(chart: Chart, labels: dict[str, str]) -> str:
    if chart.line_labels == ("topic", "partition"):
        return f"{labels.get('topic', '?')}[{labels.get('partition', '?')}]"
    return " ".join(labels.get(name, "?") for name in chart.line_labels)
