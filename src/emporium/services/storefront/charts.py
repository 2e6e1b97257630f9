"""Charts for the ops page as inline SVG, drawn on the server.

No script and no CDN (the CSP allows scripts from 'self' only, and a chart
needs none): horizontal bars for per-instance rates, a waterfall for a trace,
dots on a line for a saga's steps. Every label is escaped; sizes are fixed in
view-box units so the SVG scales with the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

__all__ = ["bars", "saga_line", "waterfall"]

_KIND_COLOUR = {
    "server": "#2e7d32",
    "client": "#1565c0",
    "producer": "#8e24aa",
    "consumer": "#ef6c00",
    "internal": "#607d8b",
}


def bars(rows: list[tuple[str, float]], unit: str, title: str) -> Markup:
    """One horizontal bar per (label, value), longest = full width."""
    height = 18 * len(rows) + 4
    top = max((v for _, v in rows), default=0.0) or 1.0
    parts = [
        f'<svg class="chart" viewBox="0 0 400 {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    ]
    for i, (label, value) in enumerate(rows):
        y = 2 + i * 18
        width = 200 * value / top
        parts.append(
            f'<text x="0" y="{y + 12}" font-size="11">{escape(label)}</text>'
            f'<rect x="160" y="{y + 2}" width="{width:.1f}" height="12" fill="#1565c0"></rect>'
            f'<text x="{165 + width:.1f}" y="{y + 12}" font-size="11">'
            f"{value:g} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def waterfall(spans: list[dict[str, Any]]) -> Markup:
    """A trace as a waterfall: one row per span, indented by depth, placed by start time."""
    if not spans:
        return Markup("")
    by_id = {s["span_id"]: s for s in spans}

    def depth(span: dict[str, Any]) -> int:
        d, seen = 0, span
        while seen["parent_id"] in by_id and d < 50:
            seen, d = by_id[seen["parent_id"]], d + 1
        return d

    start = min(s["start_ms"] for s in spans)
    end = max(s["start_ms"] + s["duration_ms"] for s in spans)
    total = max(end - start, 0.001)
    row, label_width, width = 16, 330, 470
    parts = [
        f'<svg class="chart waterfall" viewBox="0 0 {label_width + width + 60} '
        f'{row * len(spans) + 4}" role="img" aria-label="Trace waterfall, {total:.0f} ms">'
        f"<title>Trace waterfall, {total:.0f} ms</title>"
    ]
    for i, span in enumerate(spans):
        y = 2 + i * row
        x = label_width + width * (span["start_ms"] - start) / total
        w = max(width * span["duration_ms"] / total, 1.0)
        colour = "#c62828" if span.get("error") else _KIND_COLOUR.get(span["kind"], "#607d8b")
        label = f"{span['service']} · {span['name']}"[:52]
        parts.append(
            f'<g data-testid="trace-span"><text x="{4 + 8 * depth(span)}" y="{y + 11}" '
            f'font-size="10">{escape(label)}</text>'
            f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="11" fill="{colour}">'
            f"<title>{escape(span['kind'])} {span['duration_ms']:.1f} ms</title></rect>"
            f'<text x="{x + w + 3:.1f}" y="{y + 11}" font-size="9">'
            f"{span['duration_ms']:.1f} ms</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def saga_line(steps: list[dict[str, Any]], stuck: bool) -> Markup:
    """A saga's states as dots along a line, the last one red when it is stuck."""
    count = max(len(steps), 1)
    parts = [
        f'<svg class="chart saga" viewBox="0 0 {count * 130} 34" role="img" '
        f'aria-label="Saga steps">'
        f'<line x1="10" y1="10" x2="{max(count * 130 - 120, 10)}" y2="10" stroke="#999"></line>'
    ]
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        colour = "#c62828" if (stuck and last) or step["status"] == "CANCELLED" else "#2e7d32"
        parts.append(
            f'<circle cx="{10 + i * 130}" cy="10" r="6" fill="{colour}"></circle>'
            f'<text x="{2 + i * 130}" y="30" font-size="10">{escape(step["status"])} '
            f"{escape(step['at'][11:19])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
