"""A chaos run's report: per fault, errors by route and time to recover; the audit."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from emporium.loadgen.report import route_table

__all__ = ["markdown", "print_report"]


def _num(value: float | None, unit: str = " s") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _errors(fault: dict[str, Any]) -> str:
    return ", ".join(f"{route} x{n}" for route, n in fault["errors"].items()) or "none"


def _what(fault: dict[str, Any]) -> str:
    """The fault's kind, with what an injected one did: ``latency +300 ms``, ``errors 50% 503``."""
    injected = fault.get("injected")
    if injected is None:
        return f"{fault['kind']} (timer)" if fault.get("periodic") else str(fault["kind"])
    if "delay_ms" in injected:
        return f"latency +{injected['delay_ms']:g} ms"
    return f"errors {injected['error_rate']:.0%} {injected['error_status']}"


def _overall(result: dict[str, Any]) -> str:
    whole = result.get("elsewhere")
    if not whole:
        return ""
    return (
        f"Success elsewhere over the whole load: {_share(whole['success'])} of "
        f"{whole['requests']} requests ({whole['errors']} errors) on the routes that touched "
        "no service under a fault's window at the time."
    )


def _verdict(result: dict[str, Any]) -> str:
    audit = result["audit"]
    if audit.get("error"):
        return f"audit could not read the system: {audit['error']}"
    parts = ["clean" if not audit["violations"] else f"{len(audit['violations'])} violation(s)"]
    parts.append(f"{audit['pending']} order(s) PENDING")
    statuses = ", ".join(f"{n} {s}" for s, n in audit.get("orders_by_status", {}).items())
    return f"{'; '.join(parts)} ({statuses or 'no orders'}), after {result['settled_after_s']} s"


def markdown(result: dict[str, Any]) -> str:
    load = result["load"]
    total = load["total"]
    lines = [
        f"# Chaos run, {result['date']}",
        "",
        f"Load: {load['label']}, {load['duration_s']:.0f} s, {total['requests']} requests, "
        f"{total['errors']} errors; p50/p99 {total['p50_ms']:.0f}/{total['p99_ms']:.0f} ms.",
        "",
        "| fault | target | at | lasted | requests in window | errors by route | "
        "success elsewhere | ready again after | recovered after |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for f in result["faults"]:
        ready = None if f["ready_again"] is None or f["ended"] is None else round(
            max(0.0, f["ready_again"] - f["ended"]), 1
        )  # fmt: skip
        lines.append(
            f"| {_what(f)} | {f['target']} | {_num(f['started'])} | {_num(f['seconds'])} "
            f"| {f['requests']} | {_errors(f)} | {_share(f['success_elsewhere'])} "
            f"| {_num(ready)} | {_num(f['recovered_after'])} |"
        )
    if skipped := result.get("skipped"):
        what = ", ".join(f"{_what(f)} {f['target']} (planned at {f['planned_at']:g} s)"
                         for f in skipped)  # fmt: skip
        lines += ["", f"Skipped, nothing ready to take them before the load's end: {what}."]
    lines += [
        "",
        _overall(result),
        "",
        "'success elsewhere': answered without error, in the fault's window, on the routes that "
        "do not touch the faulted service (every route for the broker, which no request "
        "waits on; where windows overlap, as with kills on a timer, the routes that touch none "
        "of the services under a window at that second). Latency and errors are injected "
        "into every instance of their service. "
        "'recovered after': from the end of the fault until the last error clients "
        "saw in its window and every instance it touched ready again (launcher's view), "
        "whichever is later.",
        "",
        "| route | requests | p50 ms | p99 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for route, r in load["routes"].items():
        causes = ", ".join(f"{c}x{n}" for c, n in r["causes"].items())
        lines.append(
            f"| {route} | {r['requests']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} "
            f"| {r['max_ms']:.0f} | {r['errors']}{f' ({causes})' if causes else ''} |"
        )
    lines += ["", f"**Audit: {_verdict(result)}**", ""]
    for v in result["audit"].get("violations", [])[:50]:
        lines.append(f"- {v['invariant']} {v['subject']}: {v['detail']}")
    return "\n".join(lines) + "\n"


def print_report(console: Console, result: dict[str, Any]) -> None:
    table = Table(title="faults", header_style="bold", box=None)
    columns = (
        "fault", "target", "at", "lasted", "errors by route", "success elsewhere",
        "recovered after",
    )  # fmt: skip
    for column in columns:
        table.add_column(column)
    for f in result["faults"]:
        table.add_row(
            _what(f), f["target"], _num(f["started"]), _num(f["seconds"]), _errors(f),
            _share(f["success_elsewhere"]), _num(f["recovered_after"]),
        )  # fmt: skip
    console.print(table)
    if overall := _overall(result):
        console.print(overall)
    load = result["load"]
    console.print(route_table({"routes": load["routes"], "total": load["total"]}, "load"))
    style = "green" if result["ok"] else "bold red"
    console.print(f"[{style}]audit: {_verdict(result)}[/]")
