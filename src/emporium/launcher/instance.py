"""One supervised instance of a service: spawn, gate readiness, restart on crash.

An :class:`Instance` owns at most one OS process at a time. It starts on a free
port (or the gateway's fixed port), is *ready* once ``GET /health/ready``
answers 200, and, when its process exits without being asked to, is restarted
with :class:`~emporium.launcher.backoff.RestartBackoff` on a new port. Its output is
appended to ``var/log/<instance>.log`` and handed, line by line, to an output
sink (the CLI prints it prefixed). Stopping is two steps so the supervisor can
drain: :meth:`Instance.begin_stop` (no restarts, out of the registry), then
:meth:`Instance.stop` (SIGTERM, bounded wait, SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiohttp

from emporium.launcher._process import Child, ExecSpawner, Spawner, terminate
from emporium.launcher.backoff import RestartBackoff
from emporium.launcher.nats import free_port
from emporium.launcher.specs import ServiceSpec

__all__ = ["Instance", "InstanceContext", "InstanceState", "OutputSink", "tail"]

logger = logging.getLogger(__name__)

OutputSink = Callable[[str, str, str], None]
"""Receives ``(service, instance, line)`` for every line an instance prints."""


class InstanceState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass
class InstanceContext:
    """What every instance of one launcher shares."""

    host: str
    log_dir: Path
    env: Mapping[str, str]
    session: aiohttp.ClientSession
    on_change: Callable[[], None]
    output: OutputSink | None = None
    stop_timeout: float = 10.0
    probe_interval: float = 0.1
    backoff: Callable[[], RestartBackoff] = field(default=RestartBackoff)
    # How a process is started: forked from the launcher's fork server, or exec'd.
    spawner: Spawner = field(default_factory=ExecSpawner)
    # Every port handed to a running instance (and the gateway's): free_port()
    # only says a port is free now, so two instances starting together could
    # otherwise both be given it before either binds.
    ports: set[int] = field(default_factory=set)
    # "https" under `emporium up --tls`; other instances always speak plain HTTP.
    gateway_scheme: str = "http"


def tail(path: Path, lines: int = 20) -> list[str]:
    try:
        with path.open("r", errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
    except OSError:
        return []


class Instance:
    def __init__(
        self,
        spec: ServiceSpec,
        index: int,
        context: InstanceContext,
        *,
        fixed_port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.index = index
        self.name = f"{spec.name}-{index}"
        self.context = context
        self.fixed_port = fixed_port
        self.extra_env = dict(extra_env or {})
        self.port = 0
        self.state = InstanceState.STARTING
        self.restarts = 0
        self.process: Child | None = None
        self.ready = asyncio.Event()
        self._started_at = 0.0
        self._stopping = False
        self._stop = asyncio.Event()
        self._backoff = context.backoff()
        self._task: asyncio.Task[None] | None = None

    @property
    def log_path(self) -> Path:
        return self.context.log_dir / f"{self.name}.log"

    @property
    def url(self) -> str:
        scheme = self.context.gateway_scheme if self.spec.gateway else "http"
        return f"{scheme}://{self.context.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None
        return self.process.pid

    @property
    def uptime(self) -> float:
        if self.pid is None:
            return 0.0
        return time.monotonic() - self._started_at

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"supervise {self.name}")

    def begin_stop(self) -> None:
        """No more restarts; leave the registry. The process keeps serving until :meth:`stop`."""
        self._stopping = True
        if self.state is not InstanceState.STOPPED:
            self.state = InstanceState.STOPPING
        self.context.on_change()

    async def stop(self) -> None:
        if not self._stopping:
            self.begin_stop()
        self._stop.set()
        if self._task is not None:
            await self._task

    def describe(self) -> dict[str, Any]:
        return {
            "service": self.spec.name,
            "instance": self.name,
            "pid": self.pid,
            "port": self.port or None,
            "url": self.url if self.port else None,
            "restarts": self.restarts,
            "state": str(self.state),
            "uptime": round(self.uptime, 1),
        }

    def _exit_reason(self) -> str:
        code = self.process.returncode if self.process is not None else None
        if code is None:
            return "could not start"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _environment(self) -> dict[str, str]:
        env = dict(self.context.env)
        env.update(self.extra_env)
        env["EMPORIUM_PORT"] = str(self.port)
        env["EMPORIUM_INSTANCE"] = self.name
        return env

    def _next_port(self) -> int:
        if self.fixed_port is not None:
            return self.fixed_port
        previous, taken = self.port, self.context.ports
        port = free_port(self.context.host)
        # A restart must not reuse the crashed instance's port, nor anyone take another's.
        while port == previous or port in taken:
            port = free_port(self.context.host)
        taken.discard(previous)
        taken.add(port)
        return port

    async def _supervise(self) -> None:
        try:
            while not self._stopping:
                crashed_after = await self._run_once()
                if crashed_after is None or self._stopping:
                    break
                self.restarts += 1
                delay = self._backoff.next_delay(crashed_after)
                logger.warning(
                    "%s exited unexpectedly (%s) after %.1fs; restart %d in %.1fs",
                    self.name, self._exit_reason(), crashed_after, self.restarts, delay,
                )  # fmt: skip
                self.state = InstanceState.BACKOFF
                self.context.on_change()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            if self.fixed_port is None:
                self.context.ports.discard(self.port)
            self.state = InstanceState.STOPPED
            self.ready.clear()
            self.context.on_change()

    async def _run_once(self) -> float | None:
        """Run one process; return its uptime if it crashed, None if it was stopped."""
        self.port = self._next_port()
        self.ready.clear()
        self.state = InstanceState.STARTING
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            process = await self.context.spawner.python_module(
                self.spec.module, (), self._environment()
            )
        except OSError as error:
            logger.error("%s could not start: %s", self.name, error)
            self._started_at = time.monotonic()
            return 0.0
        self.process = process
        self._started_at = time.monotonic()
        logger.info("%s started (pid %d, port %d)", self.name, process.pid, self.port)
        self.context.on_change()
        pump = asyncio.create_task(self._pump(process))
        probe = asyncio.create_task(self._probe_until_ready(process))
        exited = asyncio.create_task(process.wait())
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            probe.cancel()
            stop.cancel()
        if not exited.done():
            await terminate(process, self.context.stop_timeout)
            await exited
        uptime = time.monotonic() - self._started_at
        self.ready.clear()
        self.context.on_change()  # out of the registry now, before anything slower
        try:
            # A grandchild may still hold the pipe open; do not wait for it forever.
            await asyncio.wait_for(pump, 2.0)
        except TimeoutError:
            logger.warning("%s: output still open after exit; no longer following it", self.name)
        if self._stop.is_set() or self._stopping:
            logger.info("%s stopped (exit %s)", self.name, process.returncode)
            return None
        return uptime

    async def _probe_until_ready(self, process: Child) -> None:
        url = f"{self.url}/health/ready"
        timeout = aiohttp.ClientTimeout(total=1.0)
        while process.returncode is None:
            try:
                async with self.context.session.get(url, timeout=timeout) as response:
                    if response.status == 200:
                        break
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(self.context.probe_interval)
        else:
            return
        if not self._stopping:
            self.state = InstanceState.READY
        self.ready.set()
        logger.info("%s ready at %s", self.name, self.url)
        self.context.on_change()

    async def _pump(self, process: Child) -> None:
        stream = process.stdout
        if stream is None:
            return
        with self.log_path.open("ab") as log:
            while True:
                try:
                    raw = await stream.readline()
                except ValueError:  # a line longer than the stream limit: take what is there
                    raw = await stream.read(1 << 16)
                if not raw:
                    return
                log.write(raw)
                log.flush()
                if self.context.output is not None:
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    self.context.output(self.spec.name, self.name, line)
