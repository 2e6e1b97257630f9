"""One chaos run: the load as a child process, the faults through the launcher,
then quiet and the audit.

The load runs as a child ``emporium load`` (Locust's closed loop patches the
standard library for gevent, which this asyncio process must not share).
Whatever happens (an error, Ctrl-C, SIGTERM), every frozen instance is resumed
and the broker started again before :func:`run_chaos` returns; the launcher
also resumes each on its own timer, in case this process dies outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

from emporium.audit.collect import AuditError, collect
from emporium.audit.invariants import check_all
from emporium.chaos.plan import Fault, FaultKind, Injection, plan_faults
from emporium.chaos.windows import judge
from emporium.launcher import ControlClient, NotRunningError
from emporium.loadgen.report import write_chart
from emporium.loadgen.shop import ROUTE_SERVICES

__all__ = ["ChaosOptions", "run_chaos"]

errors = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class ChaosOptions:
    client: ControlClient
    gateway: str
    out: Path
    duration: float
    kills: int
    kill_every: float
    freeze: float
    broker: float
    injections: tuple[Injection, ...]
    users: int
    think: tuple[float, float]
    spare: tuple[str, ...]
    seed: int | None
    settle: float
    saga_deadline: float
    password: str


def _elapsed(since_wall: float) -> float:
    return round(time.time() - since_wall, 1)


class _Chaos:
    """One run: owns the faults it caused until each is undone.

    Kills and freezes hit an instance that is ready when they are due (the
    planned one if it is): with kills on a timer, the planned one may be
    restarting. Each fault then waits until what it touched is ready again.
    """

    def __init__(
        self, client: ControlClient, candidates: list[str], rng: random.Random, until: float
    ) -> None:
        self.client = client
        self.until = until  # the load's end, in seconds since it started: no fault after it
        self.candidates = candidates
        self.rng = rng
        self.frozen: set[str] = set()
        self.broker_down = False
        self.injected: set[str] = set()  # services with latency or errors set
        # Instances a kill or freeze has hit and that are not ready again yet:
        # no other fault picks them, nor waits for them.
        self.busy: set[str] = set()

    async def inject(self, fault: Fault, since: float) -> None:
        if _elapsed(since) >= self.until:
            errors.print(f"chaos: {fault.kind} skipped: due after the load's end")
            return
        # The instances to see ready again: its target, or every one ready before it.
        touched: set[str]
        if fault.kind in (FaultKind.KILL, FaultKind.FREEZE):
            chosen = await self._ready_target(fault.target, bound=self.until - _elapsed(since))
            if chosen is None:
                errors.print(
                    f"chaos: {fault.kind} skipped at {_elapsed(since):g} s: no instance ready "
                    "before the load's end"
                )
                return
            fault.target, touched = chosen, {chosen}
            self.busy.add(chosen)
        else:
            status = await self.client.status()
            touched = {i["instance"] for i in status["instances"] if i["health"] == "ready"}
        fault.started = _elapsed(since)
        if fault.kind is FaultKind.KILL:
            await self._call(self.client.signal(fault.target, "KILL"))
            fault.ended = fault.started
        elif fault.kind is FaultKind.FREEZE:
            # The launcher resumes it after the seconds even if we die meanwhile.
            self.frozen.add(fault.target)
            await self._call(self.client.signal(fault.target, "STOP", fault.seconds + 1))
            await asyncio.sleep(fault.seconds)
            await self.resume(fault.target)
            fault.ended = _elapsed(since)
        elif fault.injection is not None:
            # Each instance drops it a second after its end even if we die meanwhile.
            # Set on the instances running now: with kills on a timer, wait for one.
            if not await self._ready_target(
                "", service=fault.target, bound=self.until - _elapsed(since)
            ):
                errors.print(
                    f"chaos: {fault.kind} {fault.target} skipped at {_elapsed(since):g} s: "
                    "no instance of it ready before the load's end"
                )
                fault.started = None
                return
            fault.started = _elapsed(since)
            self.injected.add(fault.target)
            await self._call(
                self.client.fault(fault.target, fault.injection.body(fault.seconds + 1))
            )
            await asyncio.sleep(fault.seconds)
            await self.clear(fault.target)
            fault.ended = _elapsed(since)
        else:
            self.broker_down = True
            await self._call(self.client.broker("stop", fault.seconds + 5))
            await asyncio.sleep(fault.seconds)
            await self.start_broker()
            fault.ended = _elapsed(since)
        errors.print(f"chaos: {fault.kind} {fault.target} at {fault.started:g} s"
                     + (f", undone at {fault.ended:g} s" if fault.seconds else ""))  # fmt: skip
        try:
            fault.ready_again = await self._ready(since, touched, fault.target)
        finally:
            self.busy.discard(fault.target)

    async def kill_on_a_timer(self, faults: list[Fault], since: float) -> None:
        """The periodic kills, each when due, beside the other faults; a kill does
        not wait for the one before to be back (that is the point of a timer)."""
        waiting: list[asyncio.Task[None]] = []
        try:
            for fault in faults:
                await asyncio.sleep(max(0.0, fault.at - (time.time() - since)))
                # Its own task: the readiness wait must not delay the next kill.
                waiting.append(asyncio.create_task(self.inject(fault, since)))
                await asyncio.sleep(0)
            await asyncio.gather(*waiting)
        finally:
            for task in waiting:
                task.cancel()

    async def _ready_target(
        self, planned: str, *, service: str | None = None, bound: float = 30.0
    ) -> str | None:
        """``planned`` if it is ready, else a ready instance drawn at random (of
        ``service`` if given, else of the candidates); None if none is within
        ``bound``. Never one already under a fault, nor one of a service whose
        responses are being faulted (a restart would quietly drop that fault)."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            with contextlib.suppress(NotRunningError, aiohttp.ClientError):
                status = await self.client.status()
                ready: list[str] = sorted(
                    i["instance"] for i in status["instances"]
                    if i["health"] == "ready" and i["pid"]
                    and (i["service"] == service if service else i["instance"] in self.candidates)
                    and i["instance"] not in self.frozen | self.busy
                    and (service or i["service"] not in self.injected)
                )  # fmt: skip
                if planned in ready:
                    return planned
                if ready:
                    return self.rng.choice(ready)
            await asyncio.sleep(0.5)
        return None

    async def resume(self, instance: str) -> None:
        with contextlib.suppress(NotRunningError):
            await self.client.signal(instance, "CONT")
        self.frozen.discard(instance)

    async def start_broker(self) -> None:
        with contextlib.suppress(NotRunningError):
            await self._call(self.client.broker("start"))
        self.broker_down = False

    async def clear(self, service: str) -> None:
        # An instance restarted meanwhile has no fault to clear: not an error.
        with contextlib.suppress(NotRunningError):
            await self.client.fault(service, None)
        self.injected.discard(service)

    async def undo_everything(self) -> None:
        for instance in list(self.frozen):
            await self.resume(instance)
        for service in list(self.injected):
            await self.clear(service)
        if self.broker_down:
            await self.start_broker()

    async def _call(self, request: Any) -> Any:
        code, body = await request
        if code != 200:
            raise RuntimeError(f"the launcher refused: {body.get('error', code)}")
        return body

    async def _ready(
        self, since: float, instances: set[str], own: str, bound: float = 60.0
    ) -> float | None:
        """When every one of ``instances`` (a restarted one keeps its name) answers
        ready again, but those another fault is keeping down, in seconds since
        the load started; None past ``bound``."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            with contextlib.suppress(NotRunningError, aiohttp.ClientError):
                status = await self.client.status()
                others = self.busy - {own}
                if all(
                    i["health"] == "ready"
                    for i in status["instances"]
                    if i["instance"] in instances and i["instance"] not in others
                ):
                    return _elapsed(since)
            await asyncio.sleep(0.5)
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


async def _wait_for_start(marker: Path, load: asyncio.subprocess.Process, bound: float) -> float:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(_read, marker)
        if text:
            return float(text)
        if load.returncode is not None:
            raise RuntimeError(f"the load exited with {load.returncode} before it started")
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the load did not start within {bound:g} s")


async def _quiet_audit(
    gateway: str, password: str, settle: float, deadline: float
) -> tuple[dict[str, Any], float]:
    """Audit until no order is PENDING (or ``settle`` s passed); the last audit and
    the seconds it took to get there."""
    started = time.monotonic()
    while True:
        try:
            snapshot = await collect(
                gateway, "admin@emporium.local", password,
                saga_deadline=timedelta(seconds=deadline),
            )  # fmt: skip
        except (AuditError, aiohttp.ClientError, OSError) as error:
            if time.monotonic() - started > settle:
                return {"ok": False, "error": str(error), "pending": None}, settle
            await asyncio.sleep(1)
            continue
        pending = sum(o["status"] == "PENDING" for o in snapshot.orders)
        if pending == 0 or time.monotonic() - started > settle:
            violations = check_all(snapshot)
            statuses: dict[str, int] = {}
            for order in snapshot.orders:
                statuses[str(order["status"])] = statuses.get(str(order["status"]), 0) + 1
            return {
                "ok": not violations and pending == 0,
                "pending": pending,
                "orders_by_status": dict(sorted(statuses.items())),
                "counts": snapshot.counts,
                "violations": [
                    {"invariant": v.invariant, "subject": v.subject, "detail": v.detail}
                    for v in violations
                ],
            }, round(time.monotonic() - started, 1)
        await asyncio.sleep(1)


async def _run(options: ChaosOptions) -> dict[str, Any]:
    client, gateway, out = options.client, options.gateway, options.out
    status = await client.status()
    candidates = sorted(
        i["instance"] for i in status["instances"]
        if i["service"] not in ("gateway", *options.spare) and i["pid"]
    )  # fmt: skip
    services = {i["service"] for i in status["instances"] if i["service"] != "gateway"}
    rng = random.Random(options.seed)
    faults = plan_faults(
        options.duration, kills=options.kills, freeze=options.freeze,
        broker=options.broker, instances=candidates, rng=rng,
        injections=options.injections, services=services, kill_every=options.kill_every,
    )  # fmt: skip
    chaos = _Chaos(client, candidates, rng, options.duration)
    timed = [f for f in faults if f.periodic]
    spaced = [f for f in faults if not f.periodic]
    marker = out / "load-started"
    marker.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "emporium.cli", "load",
        "--duration", str(options.duration), "--users", str(options.users),
        "--think-min", str(options.think[0]), "--think-max", str(options.think[1]),
        "--gateway", gateway, "--out", str(out / "load"), "--started-file", str(marker),
    ]  # fmt: skip
    with (out / "load.txt").open("wb") as log:
        load = await asyncio.create_subprocess_exec(*command, stdout=log)
        try:
            since = await _wait_for_start(marker, load, 120)
            every = f", a kill every {options.kill_every:g} s" if timed else ""
            errors.print(f"chaos: load started; faults at {[f.at for f in spaced]} s{every}")
            killer = asyncio.create_task(chaos.kill_on_a_timer(timed, since))
            try:
                for fault in spaced:
                    await asyncio.sleep(max(0.0, fault.at - (time.time() - since)))
                    await chaos.inject(fault, since)
                await killer
            finally:
                killer.cancel()
            await load.wait()
        finally:
            await chaos.undo_everything()
            if load.returncode is None:
                load.send_signal(signal.SIGINT)  # it reports what it measured so far
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(load.wait(), 30)
                if load.returncode is None:
                    load.kill()
    summary = json.loads((out / "load" / "results.json").read_text())
    # A fault skipped (nothing ready to take it before the load ended) did nothing.
    skipped = [f for f in faults if f.started is None]
    faults = [f for f in faults if f.started is not None]
    elsewhere = judge(faults, summary["route_seconds"], summary["duration_s"], ROUTE_SERVICES)
    errors.print("chaos: load done; waiting for every order to leave PENDING, then the audit")
    audit, settled = await _quiet_audit(
        gateway, options.password, options.settle, options.saga_deadline
    )
    write_chart(
        summary, out / "chart.png", title=f"emporium chaos: {summary['label']}",
        spans=[(f.started or f.at, f.ended or f.end, f"{f.kind} {f.target}") for f in faults],
    )  # fmt: skip
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": gateway,
        "load": {k: summary[k] for k in ("label", "duration_s", "total", "routes")},
        "faults": [f.describe() for f in faults],
        "skipped": [f.describe() for f in skipped],
        # Over the whole load: routes touching no service under a fault's window then.
        "elsewhere": {
            "requests": elsewhere[0],
            "errors": elsewhere[1],
            "success": None if not elsewhere[0] else round(1 - elsewhere[1] / elsewhere[0], 4),
        },
        "settled_after_s": settled,
        "audit": audit,
        "ok": bool(audit.get("ok")) and load.returncode == 0,
        "load_exit": load.returncode,
    }


async def run_chaos(options: ChaosOptions) -> dict[str, Any]:
    """:func:`_run`, cancelled (so its ``finally`` undoes every fault) on SIGINT or
    SIGTERM: Ctrl-C, ``kill``, or a CI runner giving up on the job."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await _run(options)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
