"""Admin-only views over every instance: their vitals and their spans of a trace.

``/api/gateway/...`` is admin-only at the edge, so these may name instances.
The gateway already knows every instance (discovery); it asks each one for its
``/metrics`` or ``/internal/spans`` directly, concurrently, with a short
timeout, and an instance that does not answer is reported, not waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from emporium.chassis.tracing import Tracing
from emporium.services.gateway.registry import Instance, Upstreams

__all__ = ["InstanceVitals", "collect_trace", "summarise_metrics"]

_TIMEOUT = aiohttp.ClientTimeout(total=2.0)
_MAX_TRACES = 5
# Messaging health per instance, summed over its labels.
_GAUGES = {
    "emporium_outbox_backlog": "outbox_backlog",
    "emporium_outbox_oldest_age_seconds": "outbox_oldest_age",
    "emporium_messages_dead_lettered": "dead_lettered",
    "emporium_consumer_lag": "consumer_lag",
}


def summarise_metrics(text: str) -> dict[str, float]:
    """Requests, 5xx errors and latency buckets (summed over routes) from one ``/metrics``."""
    requests = errors = 0.0
    buckets: dict[float, float] = {}
    extra: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "emporium_http_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    requests += sample.value
                    if sample.labels.get("status", "").startswith("5"):
                        errors += sample.value
        elif family.name in _GAUGES:
            summary_key = _GAUGES[family.name]
            extra[summary_key] = extra.get(summary_key, 0.0) + sum(
                s.value for s in family.samples if not s.name.endswith("_created")
            )
        elif family.name == "emporium_http_request_duration_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
    summary = {"requests": requests, "errors": errors, **extra}
    summary.update({f"le:{bound}": count for bound, count in buckets.items()})
    return summary


def _p99(now: dict[str, float], before: dict[str, float]) -> float | None:
    bounds = sorted(float(k[3:]) for k in now if k.startswith("le:"))
    counts = [now[f"le:{b}"] - before.get(f"le:{b}", 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    target = counts[-1] * 0.99
    for bound, count in zip(bounds, counts, strict=True):
        if count >= target:
            return bound
    return None


class InstanceVitals:
    """Rates and p99 per instance, from the difference between two scrapes.

    Each call scrapes every instance once; rates cover the time since the
    previous call (the ops page polls, so that is its refresh interval).
    """

    def __init__(self, upstreams: Upstreams, session: Callable[[], aiohttp.ClientSession]) -> None:
        self.upstreams = upstreams
        self.session = session
        self._last: dict[str, tuple[float, dict[str, float]]] = {}

    async def snapshot(self, now: float) -> list[dict[str, Any]]:
        instances = self.upstreams.all()
        scraped = await asyncio.gather(*(self._scrape(i) for i in instances))
        rows = []
        for instance, summary in zip(instances, scraped, strict=True):
            row = instance.describe(now)
            row.update({"request_rate": None, "error_rate": None, "p99_ms": None})
            if summary is not None:
                taken = time.monotonic()
                previous = self._last.get(instance.name)
                if previous is not None and taken > previous[0]:
                    span = taken - previous[0]
                    before = previous[1]
                    row["request_rate"] = round(
                        max(summary["requests"] - before["requests"], 0.0) / span, 2
                    )
                    row["error_rate"] = round(
                        max(summary["errors"] - before["errors"], 0.0) / span, 2
                    )
                    p99 = _p99(summary, before)
                    row["p99_ms"] = p99 * 1000 if p99 is not None else None
                self._last[instance.name] = (taken, summary)
                row["requests_total"] = summary["requests"]
                row["errors_total"] = summary["errors"]
                for key in _GAUGES.values():
                    row[key] = summary.get(key)
            rows.append(row)
        return rows

    async def _scrape(self, instance: Instance) -> dict[str, float] | None:
        try:
            async with self.session().get(f"{instance.url}/metrics", timeout=_TIMEOUT) as r:
                if r.status != 200:
                    return None
                return summarise_metrics(await r.text())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None


async def _spans_of(
    session: aiohttp.ClientSession, instance: Instance, query: dict[str, str]
) -> list[dict[str, Any]]:
    try:
        async with session.get(
            f"{instance.url}/internal/spans", params=query, timeout=_TIMEOUT
        ) as response:
            if response.status != 200:
                return []
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return []
    spans = body.get("spans", [])
    return spans if isinstance(spans, list) else []


async def collect_trace(
    key: str,
    upstreams: Upstreams,
    session: aiohttp.ClientSession,
    local: Tracing | None,
) -> dict[str, Any]:
    """Every instance's spans of the traces ``key`` names (a trace, request or order id).

    First every instance says which of its spans match the key; then every
    instance is asked for the whole of those traces (at most five).
    """
    instances = upstreams.all()
    first = await asyncio.gather(*(_spans_of(session, i, {"match": key}) for i in instances))
    found = [s for spans in first for s in spans]
    if local is not None:
        found += local.ring.find(match=key)
    trace_ids = sorted({s["trace_id"] for s in found})[:_MAX_TRACES]
    spans: dict[str, dict[str, Any]] = {}
    for trace_id in trace_ids:
        answers = await asyncio.gather(
            *(_spans_of(session, i, {"trace_id": trace_id}) for i in instances)
        )
        for span in [s for a in answers for s in a] + (
            local.ring.find(trace_id=trace_id) if local is not None else []
        ):
            spans[span["span_id"]] = span
    ordered = sorted(spans.values(), key=lambda s: s["start_ms"])
    return {"key": key, "trace_ids": trace_ids, "spans": ordered}
