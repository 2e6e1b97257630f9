"""``emporium load``: the whole shop under load, against a system on this machine."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from emporium.audit.command import gateway_of
from emporium.launcher import VarLayout
from emporium.loadgen._stats import Recorder
from emporium.loadgen.guard import NotLoopbackError, require_loopback
from emporium.loadgen.report import route_table, write_chart, write_json

__all__ = ["MAX_DURATION", "load"]

MAX_DURATION = 1800.0  # half an hour: long enough to soak, short enough to forget safely
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True, highlight=False)


class MissingExtraError(RuntimeError):
    def __init__(self, error: ImportError) -> None:
        super().__init__(
            f"{error.name or error}: the load tools need their extra: pip install 'emporium[load]'"
        )


class Mode(StrEnum):
    closed = "closed"
    open = "open"


def _products(gateway: str) -> list[str]:
    """Every product id, read before the closed loop imports Locust (and gevent)."""
    ids: list[str] = []
    while True:
        url = f"{gateway}/api/catalog/products?limit=100&offset={len(ids)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            page = json.load(response)
        ids += [p["id"] for p in page["items"]]
        if not page["items"] or len(ids) >= page["total"]:
            return ids


def _default_out(var_dir: Path | None) -> Path:
    root = VarLayout.at(var_dir or Path(os.environ.get("EMPORIUM_VAR_DIR", "var"))).root
    return root / "load" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def load(
    duration: Annotated[
        float,
        typer.Option(help=f"Seconds to run (required; at most {MAX_DURATION:g})", min=1),
    ],
    mode: Annotated[
        Mode, typer.Option(help="closed: N shoppers who think; open: a fixed arrival rate")
    ] = Mode.closed,
    users: Annotated[
        int, typer.Option(help="closed: shoppers; open: signed-in shoppers to draw from", min=1)
    ] = 20,
    spawn_rate: Annotated[float | None, typer.Option(help="closed: shoppers started per s")] = None,
    think_min: Annotated[float, typer.Option(help="closed: least think time, s", min=0)] = 1.0,
    think_max: Annotated[float, typer.Option(help="closed: most think time, s", min=0)] = 3.0,
    rate: Annotated[float, typer.Option(help="open: arrivals per second", min=0.1)] = 20.0,
    gateway: Annotated[
        str | None, typer.Option(help="Gateway URL (default: the running system's)")
    ] = None,
    var_dir: Annotated[Path | None, typer.Option("--var-dir", help="State directory")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for results.json and chart.png")
    ] = None,
    live: Annotated[bool, typer.Option(help="Show live progress")] = True,
    seed: Annotated[int | None, typer.Option(help="open: random seed")] = None,
    started_file: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Load the whole shop (Online Boutique's task mix) and report rps, p50/p90/p99/max
    and errors per route, with a JSON file and a chart. Loopback targets only."""
    if duration > MAX_DURATION:
        errors.print(f"error: --duration is at most {MAX_DURATION:g} s")
        raise typer.Exit(2)
    if think_max < think_min:
        errors.print("error: --think-max is below --think-min")
        raise typer.Exit(2)
    url = (gateway or gateway_of(var_dir)).rstrip("/")
    try:
        require_loopback(url)
    except NotLoopbackError as error:
        errors.print(f"error: {error}")
        raise typer.Exit(2) from None
    folder = out or _default_out(var_dir)
    recorder = Recorder()
    label = (
        f"closed loop, {users} shoppers, think {think_min:g}-{think_max:g} s"
        if mode is Mode.closed
        else f"open loop, {rate:g} arrivals/s over {users} shoppers"
    )
    display = Live(console=console, auto_refresh=False, transient=False)
    showing = live and console.is_terminal
    printed = [-1]

    def tick() -> None:
        if started_file is not None and not started_file.exists():
            # emporium chaos times its faults from here: the load has begun.
            started_file.write_text(f"{recorder.started_wall}\n")
        rps, p99, errs = recorder.recent()
        line = Text(
            f"{recorder.elapsed:5.0f}/{duration:g} s  {rps:7.1f} req/s  p99 {p99:7.0f} ms  "
            f"{errs:5.1f} errors/s  total {recorder.requests} requests, {recorder.errors} errors"
        )
        if showing:
            display.update(line, refresh=True)
        elif live and int(recorder.elapsed) // 5 != printed[0]:  # a log, not a screen
            printed[0] = int(recorder.elapsed) // 5
            errors.print(line, soft_wrap=True)

    extra: dict[str, Any] = {}
    interrupted = False
    if showing:
        display.start()
    try:
        if mode is Mode.closed:
            extra = _closed(url, recorder, users, spawn_rate, duration, think_min, think_max, tick)
        else:
            extra = _open(url, recorder, rate, duration, users, tick, seed)
    except KeyboardInterrupt:
        interrupted = True
    except MissingExtraError as error:
        errors.print(f"error: {error}")
        raise typer.Exit(1) from None
    except OSError as error:  # the system is not there, or went away for good
        errors.print(f"error: could not load {url}: {error}")
        raise typer.Exit(1) from None
    finally:
        if showing:
            display.stop()
    summary = recorder.summary(
        target=url, mode=str(mode), label=label, interrupted=interrupted,
        users=users, think_s=[think_min, think_max] if mode is Mode.closed else None,
        rate=rate if mode is Mode.open else None, **extra,
    )  # fmt: skip
    console.print(route_table(summary, title=f"{label}, {summary['duration_s']:.0f} s"))
    write_json(summary, folder / "results.json")
    try:
        write_chart(summary, folder / "chart.png", title=label)
    except ImportError as error:
        errors.print(f"error: {MissingExtraError(error)}")
        raise typer.Exit(1) from None
    console.print(f"results: {folder / 'results.json'}\nchart:   {folder / 'chart.png'}")
    if interrupted:
        raise typer.Exit(130)


def _closed(
    url: str,
    recorder: Recorder,
    users: int,
    spawn_rate: float | None,
    duration: float,
    think_min: float,
    think_max: float,
    tick: Any,
) -> dict[str, Any]:
    products = _products(url)
    try:
        from emporium.loadgen._locust import run_closed_loop  # gevent's patches begin here
    except ImportError as error:
        raise MissingExtraError(error) from None

    recorder.restart()
    run_closed_loop(
        url, products, recorder, users=users, spawn_rate=spawn_rate or float(users),
        duration=duration, think=(think_min, think_max), tick=tick,
    )  # fmt: skip
    return {}


def _open(
    url: str,
    recorder: Recorder,
    rate: float,
    duration: float,
    users: int,
    tick: Any,
    seed: int | None,
) -> dict[str, Any]:
    from emporium.loadgen._aio import run_open_loop

    lag = asyncio.run(
        run_open_loop(
            url, recorder, rate=rate, duration=duration, shoppers=users, tick=tick, seed=seed
        )
    )
    return {"generator_max_lag_ms": round(lag * 1000, 1)}
