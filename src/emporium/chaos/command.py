"""``emporium chaos``: faults on a schedule under load, then quiet, then the audit
(the run itself is :mod:`emporium.chaos.run`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from emporium.audit.command import gateway_of
from emporium.chaos.plan import Injection, PlanError, parse_errors, parse_latency
from emporium.chaos.report import markdown, print_report
from emporium.chaos.run import ChaosOptions, run_chaos
from emporium.launcher import ControlClient, NotRunningError, VarLayout
from emporium.loadgen.command import MAX_DURATION
from emporium.loadgen.guard import NotLoopbackError, require_loopback

__all__ = ["chaos"]

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True, highlight=False)


def chaos(
    duration: Annotated[
        float, typer.Option(help=f"Seconds of load (required; at most {MAX_DURATION:g})", min=5)
    ],
    kill: Annotated[int, typer.Option("--kill", help="Instances to SIGKILL", min=0)] = 1,
    kill_every: Annotated[
        float,
        typer.Option(
            help="Also SIGKILL a random ready instance every so many seconds, beside the "
            "other faults (0: none)",
            min=0,
        ),
    ] = 0.0,
    freeze: Annotated[
        float, typer.Option(help="Seconds to freeze one instance (SIGSTOP; 0: none)", min=0)
    ] = 2.0,
    broker_stop: Annotated[
        float, typer.Option(help="Seconds to stop the broker (0: none)", min=0)
    ] = 3.0,
    latency: Annotated[
        list[str] | None,
        typer.Option(
            help="Slow one service's responses: SERVICE:DELAY:DURATION, e.g. catalog:300ms:5s "
            "(repeatable)"
        ),
    ] = None,
    errors_: Annotated[
        list[str] | None,
        typer.Option(
            "--errors",
            help="Fail a share of one service's requests: SERVICE:RATE:DURATION[:STATUS], "
            "e.g. cart:50%:5s (503 unless given; repeatable)",
        ),
    ] = None,
    users: Annotated[int, typer.Option(help="Shoppers (closed loop)", min=1)] = 10,
    think_min: Annotated[float, typer.Option(help="Least think time, s", min=0)] = 0.5,
    think_max: Annotated[float, typer.Option(help="Most think time, s", min=0)] = 2.0,
    spare: Annotated[
        list[str] | None, typer.Option(help="A service never killed or frozen (repeatable)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (which instances)")] = None,
    settle: Annotated[
        float, typer.Option(help="Seconds to wait, after the load, for no order PENDING")
    ] = 90.0,
    saga_deadline: Annotated[float, typer.Option(help="Audit's I3 deadline, s", min=1)] = 60.0,
    var_dir: Annotated[Path | None, typer.Option("--var-dir", help="State directory")] = None,
    out: Annotated[Path | None, typer.Option(help="Directory for the report")] = None,
    admin_password: Annotated[
        str, typer.Option(envvar="EMPORIUM_ADMIN_PASSWORD", help="(env EMPORIUM_ADMIN_PASSWORD)")
    ] = "emporium-admin",
) -> None:
    """Load the shop while killing, freezing, cutting off the broker and slowing or
    failing one service's responses on a schedule; then wait for quiet and audit.
    Exit 1 on any invariant violation or order left PENDING."""
    if duration > MAX_DURATION:
        errors.print(f"error: --duration is at most {MAX_DURATION:g} s")
        raise typer.Exit(2)
    layout = VarLayout.at(var_dir or Path(os.environ.get("EMPORIUM_VAR_DIR", "var")))
    gateway = gateway_of(var_dir).rstrip("/")
    try:
        require_loopback(gateway)
    except NotLoopbackError as error:
        errors.print(f"error: {error}")
        raise typer.Exit(2) from None
    try:
        injections: tuple[Injection, ...] = (
            *(parse_latency(text) for text in latency or ()),
            *(parse_errors(text) for text in errors_ or ()),
        )
    except PlanError as error:
        errors.print(f"error: {error}")
        raise typer.Exit(2) from None
    folder = out or layout.root / "chaos" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    options = ChaosOptions(
        client=ControlClient(layout.socket), gateway=gateway, out=folder,
        duration=duration, kills=kill, kill_every=kill_every, freeze=freeze,
        broker=broker_stop, injections=injections,
        users=users, think=(think_min, think_max), spare=tuple(spare or ()),
        seed=seed, settle=settle, saga_deadline=saga_deadline, password=admin_password,
    )  # fmt: skip
    try:
        result = asyncio.run(run_chaos(options))
    except PlanError as error:
        errors.print(f"error: {error}")
        raise typer.Exit(2) from None
    except (NotRunningError, RuntimeError, OSError) as error:
        errors.print(f"error: {error}")
        raise typer.Exit(1) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        errors.print("chaos: interrupted; every frozen instance resumed, the broker running")
        raise typer.Exit(130) from None
    (folder / "chaos.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / "report.md").write_text(markdown(result))
    print_report(console, result)
    console.print(f"report: {folder / 'report.md'}\nchart:  {folder / 'chart.png'}")
    raise typer.Exit(0 if result["ok"] else 1)
