"""bench.scaling's cells, their tables, the verdict on what serialises, the chart."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = ["REPLICAS", "SAGA", "Cell", "chart", "report"]

REPLICAS = [1, 2, 3]
SAGA = ["orders", "inventory", "payments"]


@dataclass
class Cell:
    """One measurement: a scenario at a replica count, in one round."""

    scenario: str
    replicas: int
    rps: float  # 2xx req/s, or confirmed orders/s
    p50_ms: float
    p99_ms: float
    errors: float
    cpu_ms: dict[str, float]  # service (all its instances) -> CPU ms per request/order
    busy: dict[str, float]  # instance -> % of one core during the load
    machine: float  # % of one core, whole machine (200 = both cores busy)
    ours: float  # % of one core, the system's own processes (load generator not counted)
    notes: dict[str, float] = field(default_factory=dict)


def median(cells: list[Cell], attribute: str) -> float:
    return statistics.median(getattr(c, attribute) for c in cells) if cells else float("nan")


def median_of(cells: list[Cell], part: str, key: str) -> float:
    values = [getattr(c, part)[key] for c in cells if key in getattr(c, part)]
    return statistics.median(values) if values else float("nan")


def modelled(group: list[Cell]) -> float:
    """Requests (orders) per second the CPU share and the CPU per request predict."""
    path_ms = sum(median_of(group, "cpu_ms", s) for s in group[0].cpu_ms)
    return median(group, "ours") / 100 / (path_ms / 1000) if path_ms else float("nan")


def grouped(cells: list[Cell]) -> dict[str, dict[int, list[Cell]]]:
    groups: dict[str, dict[int, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        groups[cell.scenario][cell.replicas].append(cell)
    return groups


def report(cells: list[Cell], args: argparse.Namespace, started: datetime, loads: list[str]) -> str:
    groups = grouped(cells)
    lines = [
        "# How cost grows: throughput against replicas (issue 14)",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; machine: nproc={os.cpu_count()}, "
        f"{platform.machine()}, Python {platform.python_version()}",
        f"- load average (1/5/15 min) at start {loads[0]}, at end {loads[-1]}: the two cores "
        "are shared with other engineers' systems and tests, so req/s and latencies are "
        "noisy and low; CPU per request is the robust column",
        f"- command: `{' '.join(['.venv/bin/python -m bench.scaling', *sys.argv[1:]])}`",
        "- one system (`emporium up --detach`, SQLite, embedded NATS), scaled in place with "
        "`emporium scale` before each cell; replica order rotates per round; medians over "
        f"rounds (catalog {args.rounds}, checkout {args.checkout_rounds})",
        f"- catalog: `wrk -t1 -c{args.connections}`, {args.duration:g} s per cell after a 1 s "
        "warm-up, through the gateway; req/s counts 2xx only",
        f"- checkout: open loop {args.rate:g}/s for {args.seconds:g} s per cell, one prepared "
        "user and cart each, no polling; 'confirmed/s' = orders confirmed / (first PENDING to "
        "last CONFIRMED, server clock); p50/p99 = saga PENDING->CONFIRMED; errors = checkouts "
        "not accepted (503 from overload control, which sheds what exceeds capacity)",
        "",
        "## Throughput",
        "",
        "| scenario | replicas | req/s or confirmed/s | x 1 replica | p50 ms | p99 ms | errors "
        "| busiest process (% of one core) | system's processes (% of 200) "
        "| machine busy (% of 200) | model: share / CPU per request |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for scenario, by_count in groups.items():
        base = median(by_count.get(1, []), "rps")
        for count, group in sorted(by_count.items()):
            busiest = max(group[0].busy, key=lambda n: median_of(group, "busy", n))
            rps = median(group, "rps")
            lines.append(
                f"| {scenario} | {count} | {rps:.1f} | {rps / base:.2f} "
                f"| {median(group, 'p50_ms'):.0f} | {median(group, 'p99_ms'):.0f} "
                f"| {sum(c.errors for c in group):.0f} "
                f"| {busiest} {median_of(group, 'busy', busiest):.0f} % "
                f"| {median(group, 'ours'):.0f} | {median(group, 'machine'):.0f} "
                f"| {modelled(group):.1f} |"
            )
    lines += [
        "",
        "'model' is the throughput the CPU figures predict: the system's share of the "
        "machine (cores) divided by the CPU seconds one request (one confirmed order) costs "
        "all its processes. Where it matches the measured column, the curve is explained by "
        "CPU alone: throughput grows only if the system's share of the cores grows.",
    ]
    lines += [
        "",
        "## CPU per request (catalog, µs) and per confirmed order (checkout, ms)",
        "",
        "Each service's processes summed (all its replicas); medians over rounds. "
        "'path' is the sum; '1 core serves' is 1 / path, what one core could do at that "
        "cost with nothing else running (load generator not counted).",
        "",
    ]
    for scenario, by_count in groups.items():
        catalog = scenario.startswith("catalog")
        unit, factor = ("µs", 1000.0) if catalog else ("ms", 1.0)
        services = sorted({s for g in by_count.values() for c in g for s in c.cpu_ms})
        if not catalog:  # the services checkout scales, then the rest by cost
            services = SAGA + sorted(
                (s for s in services if s not in SAGA),
                key=lambda s: -median_of(by_count[1] or [], "cpu_ms", s),
            )
        lines += [
            f"{scenario}, {unit}:",
            "",
            "| replicas | " + " | ".join(services) + " | path | 1 core serves /s |",
            "|---:|" + "---:|" * (len(services) + 2),
        ]
        for count, group in sorted(by_count.items()):
            costs = [median_of(group, "cpu_ms", s) * factor for s in services]
            path = sum(c for c in costs if c == c)
            lines.append(
                f"| {count} | " + " | ".join(f"{c:.0f}" for c in costs) + f" | {path:.0f} "
                f"| {(1e6 if catalog else 1e3) / path:.0f} |"
            )
        lines.append("")
    checkout = groups.get("checkout", {})
    if checkout:
        lines += [
            "Checkout cells, counts: "
            + "; ".join(
                f"x{n}: sent {median_of(g, 'notes', 'sent'):.0f}, accepted "
                f"{median_of(g, 'notes', 'accepted'):.0f}, confirmed "
                f"{median_of(g, 'notes', 'confirmed'):.0f}, TIMEOUT "
                f"{median_of(g, 'notes', 'timeout'):.0f}, POST p50/p99 "
                f"{median_of(g, 'notes', 'post_p50_ms'):.0f}/"
                f"{median_of(g, 'notes', 'post_p99_ms'):.0f} ms"
                for n, g in sorted(checkout.items())
            ),
            "",
        ]
    lines += ["## What serialises it", "", *verdicts(groups), ""]
    return "\n".join(lines)


def verdicts(groups: dict[str, dict[int, list[Cell]]]) -> list[str]:
    """One line per scenario, from the measured busy shares (not assumed)."""
    said: list[str] = []
    cores = 100 * (os.cpu_count() or 1)
    for scenario, by_count in groups.items():
        counts = sorted(by_count)
        one, most = by_count[counts[0]], by_count[counts[-1]]
        gain = median(most, "rps") / median(one, "rps")
        gateway = median_of(most, "busy", "gateway-1")
        machine, ours, ours_one = median(most, "machine"), median(most, "ours"), median(one, "ours")
        scaled = [n for n in most[0].busy if n.rsplit("-", 1)[0] in [*SAGA, "catalog"]]
        widest = max((median_of(most, "busy", n) for n in scaled), default=float("nan"))
        reason = []
        if machine >= 0.85 * cores:
            reason.append(
                f"the cores: the machine was {machine:.0f} % busy of {cores}, of which the "
                f"system's own processes {ours:.0f} % (the rest: the load generator and other "
                "work on the machine)"
            )
        if gateway >= 60:
            reason.append(f"the single gateway process at {gateway:.0f} % of one core")
        verdict = "scales" if gain >= 1.3 else "does not scale"
        line = (
            f"- **{scenario}**: x{counts[-1]} replicas gave {gain:.2f}x the throughput of "
            f"x{counts[0]} ({verdict}); at x{counts[-1]}: gateway {gateway:.0f} % of a core, "
            f"the busiest scaled instance {widest:.0f} %. "
            + (
                "Limited by " + " and ".join(reason) + "."
                if reason
                else "Neither a process nor the machine was full: the limit is elsewhere "
                "(latency, admission)."
            )
        )
        if machine >= 0.85 * cores and ours > 1.2 * ours_one:
            line += (
                f" The system's share of a full machine grew from {ours_one:.0f} % to "
                f"{ours:.0f} % with the replicas: on shared cores, more runnable processes "
                "win more of the scheduler's time slices, so part of this gain is taken from "
                "the neighbours, not made by the design."
            )
        said.append(line)
    return said


def chart(cells: list[Cell], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display
    import matplotlib.pyplot as plt

    groups = grouped(cells)
    figure, (reads, orders) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, wanted in ((reads, True), (orders, False)):
        for scenario, by_count in groups.items():
            if scenario.startswith("catalog") != wanted:
                continue
            counts = sorted(by_count)
            values = [median(by_count[n], "rps") for n in counts]
            line = axis.plot(counts, values, marker="o", label=scenario)[0]
            axis.plot(
                counts, [values[0] * n for n in counts], ls=":", color=line.get_color(), alpha=0.5
            )
        axis.set_xticks(REPLICAS)
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper left", fontsize=8)
    reads.set_xlabel("catalog replicas")
    reads.set_ylabel("req/s through the gateway (2xx)")
    orders.set_xlabel("replicas of orders, inventory, payments")
    orders.set_ylabel("confirmed orders/s")
    figure.suptitle(title + " (dotted: linear from 1 replica)", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
