"""The end of a run: a table per route, the JSON results, a chart over time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

__all__ = ["route_table", "write_chart", "write_json"]


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def route_table(summary: dict[str, Any], title: str = "per route") -> Table:
    table = Table(title=title, header_style="bold", box=None)
    for column in ("route", "requests", "rps", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"):
        if column == "route":
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right")
    rows = [*summary["routes"].items(), ("all", summary["total"])]
    for name, r in rows:
        causes = ", ".join(f"{c}x{n}" for c, n in r.get("causes", {}).items())
        table.add_row(
            name,
            str(r["requests"]),
            f"{r['rps']:.1f}",
            _cell(r["p50_ms"]),
            _cell(r["p90_ms"]),
            _cell(r["p99_ms"]),
            _cell(r["max_ms"]),
            f"{r['errors']}" + (f" ({causes})" if causes else ""),
            style="bold" if name == "all" else None,
        )
    return table


def write_json(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")


def write_chart(
    summary: dict[str, Any],
    path: Path,
    *,
    title: str,
    spans: Sequence[tuple[float, float, str]] = (),
) -> None:
    """Throughput and errors (top) and p50/p99 latency (bottom) per second, with
    shaded ``spans`` (start s, end s, label): the faults of a chaos run."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    timeline = summary["timeline"]
    seconds = [t["second"] for t in timeline]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    top.plot(seconds, [t["requests"] - t["errors"] for t in timeline], label="ok/s", color="C0")
    top.plot(seconds, [t["errors"] for t in timeline], label="errors/s", color="C3")
    top.set_ylabel("requests / s")
    top.legend(loc="upper right")
    top.set_title(title)

    def series(key: str) -> list[float]:
        return [t[key] if t[key] is not None else float("nan") for t in timeline]

    bottom.plot(seconds, series("p50_ms"), label="p50", color="C2")
    bottom.plot(seconds, series("p99_ms"), label="p99", color="C1")
    bottom.set_yscale("log")
    bottom.set_ylabel("latency ms (log)")
    bottom.set_xlabel("seconds since start")
    bottom.legend(loc="upper right")
    for start, end, label in spans:
        for axis in (top, bottom):
            axis.axvspan(start, max(end, start + 0.3), color="grey", alpha=0.2)
        top.annotate(label, (start, 1), xycoords=("data", "axes fraction"), fontsize=7,
                     va="top", rotation=90)  # fmt: skip
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
