"""The whole ``emporium up``: lock, broker, pre-start steps, instances, control API.

:class:`Launcher` is also the programmatic entry point for tests::

    launcher = Launcher(LauncherSettings(var_dir=tmp, gateway_port=free_port()), table=TABLE)
    summary = await launcher.start()      # returns once every instance is ready
    ...
    await launcher.stop()                 # drains; every child is gone afterwards

:meth:`Launcher.run` adds SIGINT/SIGTERM handling and blocks until one arrives.
Progress is mirrored in ``var/run/state`` (``starting``, ``ready``, ``failed``,
``stopped``) so a detaching parent can wait for the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from emporium.launcher._lock import PidLock
from emporium.launcher._process import ExecSpawner, ForkingSpawner, Spawner, read_all
from emporium.launcher.control import ControlServer
from emporium.launcher.instance import InstanceContext, OutputSink
from emporium.launcher.nats import EmbeddedNats
from emporium.launcher.registry import RegistryWriter
from emporium.launcher.secrets import mask_text, mask_url, write_private
from emporium.launcher.settings import LauncherSettings, VarLayout, read_state
from emporium.launcher.specs import PreStartStep, ServiceTable, merged_replicas, resolve_table
from emporium.launcher.supervisor import Supervisor

if TYPE_CHECKING:
    from emporium.launcher.tls import TlsFiles

__all__ = ["LaunchError", "Launcher", "read_state", "resolve_table"]

logger = logging.getLogger(__name__)

ADMIN_LOGIN = "admin@emporium.local / $EMPORIUM_ADMIN_PASSWORD"
LOCAL_ADMIN_LOGIN = f"{ADMIN_LOGIN} (default emporium-admin)"
PRE_START_TIMEOUT = 300.0


class LaunchError(RuntimeError):
    """Start-up failed; the message says what and shows the relevant output."""


class Launcher:
    def __init__(
        self,
        settings: LauncherSettings,
        *,
        table: ServiceTable | None = None,
        replicas: Mapping[str, int] | None = None,
        output: OutputSink | None = None,
    ) -> None:
        self.settings = settings
        self.layout = VarLayout.at(settings.var_dir)
        self.table = resolve_table(settings, table)
        self.replicas = merged_replicas(self.table, replicas or {})
        self.output = output
        self.broker_url = ""
        self.supervisor: Supervisor | None = None
        self._lock = PidLock(self.layout.pid_file)
        self._nats: EmbeddedNats | None = None
        self._session: aiohttp.ClientSession | None = None
        self._control: ControlServer | None = None
        self._started = time.monotonic()
        self._stop_requested = asyncio.Event()
        self._tls: TlsFiles | None = None
        self._broker_timer: asyncio.Task[None] | None = None
        self._broker_lock = asyncio.Lock()
        self._spawner: Spawner = ExecSpawner()

    @property
    def gateway_url(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://{self.settings.host}:{self.settings.gateway_port}"

    # -- start --------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Start everything and return the summary once all instances are ready."""
        self._started = time.monotonic()
        self.layout.create()
        self._lock.acquire()
        self._write_state("starting")
        try:
            summary = await self._start()
        except BaseException as error:
            try:
                await self._teardown()
            finally:
                self._write_state("failed", error=mask_text(str(error)) or type(error).__name__)
                self._lock.release()
            raise
        self._write_state("ready", summary=summary)
        return summary

    async def _start(self) -> dict[str, Any]:
        self._spawner = self._new_spawner()  # it imports while the broker starts
        self.broker_url = await self._start_broker()
        if self.settings.tls:
            # Only with --tls: cryptography's import is most of a tenth of a second.
            from emporium.launcher.tls import ensure_tls

            self._tls = await asyncio.to_thread(ensure_tls, self.layout.tls)
        env = self._base_env()
        for step in self.table.pre_start:
            if self.settings.profile in step.profiles:
                await self._run_step(step, env)
        connector = aiohttp.TCPConnector(ssl=self._tls.client_context()) if self._tls else None
        self._session = aiohttp.ClientSession(connector=connector)
        context = InstanceContext(
            gateway_scheme="https" if self._tls else "http",
            host=self.settings.host,
            log_dir=self.layout.log,
            env=env,
            session=self._session,
            on_change=lambda: None,
            output=self.output,
            stop_timeout=self.settings.launcher_stop_timeout,
            spawner=self._spawner,
        )
        self.supervisor = Supervisor(
            self.table,
            context,
            RegistryWriter(self.layout.registry),
            gateway_port=self.settings.gateway_port,
            drain=self.settings.launcher_drain_seconds,
        )
        self._control = ControlServer(
            self.supervisor, self._session, self._info, broker=self if self._nats else None
        )
        await self._control.start(self.layout.socket)
        started = self.supervisor.start(self.replicas)
        not_ready = await self.supervisor.wait_ready(started, self.settings.launcher_ready_timeout)
        if not_ready:
            names = ", ".join(i.name for i in not_ready)
            raise LaunchError(
                f"not ready after {self.settings.launcher_ready_timeout:g}s: {names}\n"
                + self.supervisor.not_ready_report(not_ready)
            )
        return self.summary()

    async def _start_broker(self) -> str:
        external = self.settings.external_broker_url()
        if external is not None:
            logger.info("broker at %s", mask_url(external))
            return external
        # Not on the gateway's port, which the gateway binds only later.
        self._nats = EmbeddedNats(self.layout.nats, avoid=frozenset({self.settings.gateway_port}))
        await asyncio.to_thread(self._nats.start, log_file=self.layout.log / "nats.log")
        logger.info("NATS JetStream at %s", self._nats.url)
        return self._nats.url

    # -- the embedded broker, stopped on purpose (emporium chaos) -----------

    async def stop_broker(self, resume_after: float | None) -> dict[str, Any]:
        """Stop the embedded NATS; start it again on the same port and store after
        ``resume_after`` seconds, when given (the launcher does it, so a chaos
        client that dies cannot leave the broker down)."""
        assert self._nats is not None
        async with self._broker_lock:
            await asyncio.to_thread(self._nats.stop)
            logger.warning("broker stopped on request")
            if self._broker_timer is not None:
                self._broker_timer.cancel()
            if resume_after is not None:
                self._broker_timer = asyncio.create_task(self._start_broker_after(resume_after))
        return {"broker": "stopped", "resume_after": resume_after}

    async def _start_broker_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._broker_timer = None
        await self.start_broker()

    async def start_broker(self) -> dict[str, Any]:
        assert self._nats is not None
        async with self._broker_lock:
            if self._broker_timer is not None and self._broker_timer is not asyncio.current_task():
                self._broker_timer.cancel()
                self._broker_timer = None
            if self._nats.process is None or self._nats.process.poll() is not None:
                await asyncio.to_thread(self._nats.start, log_file=self.layout.log / "nats.log")
                logger.warning("broker started again at %s", self._nats.url)
        return {"broker": "running", "url": self._nats.url}

    def _new_spawner(self) -> Spawner:
        if not (self.settings.launcher_fork and sys.platform.startswith("linux")):
            return ExecSpawner()
        packages = [spec.module for spec in self.table.services]
        packages += [step.module.rpartition(".")[0] for step in self.table.pre_start]
        spawner = ForkingSpawner(
            list(dict.fromkeys(p for p in packages if p)),
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            log=self.layout.log / "forkserver.log",
            ready_within=self.settings.launcher_ready_timeout,
        )
        spawner.warm_up()
        return spawner

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.update(
            EMPORIUM_HOST=self.settings.host,
            EMPORIUM_BROKER_URL=self.broker_url,
            EMPORIUM_VAR_DIR=str(self.layout.root),
            EMPORIUM_PROFILE=self.settings.profile,
            EMPORIUM_GATEWAY_PORT=str(self.settings.gateway_port),
            # Services call each other's ready instances directly, in turn, as
            # the registry lists them (what a Kubernetes Service does there);
            # through the gateway only while it lists none.
            EMPORIUM_REGISTRY_FILE=str(self.layout.registry),
            EMPORIUM_INTERNAL_URL=self.gateway_url,
        )
        if self.settings.profile == "local":
            # Lets `emporium chaos` slow or fail a service's responses (the
            # prod profile refuses it: nothing deployed can be told to fail).
            env["EMPORIUM_FAULT_INJECTION"] = "true"
        if self._tls is not None:
            env.update(
                EMPORIUM_GATEWAY_TLS_CERTFILE=str(self._tls.cert),
                EMPORIUM_GATEWAY_TLS_KEYFILE=str(self._tls.key),
                # What services still send through the gateway goes over HTTPS.
                SSL_CERT_FILE=str(self._tls.trust),
            )
        return env

    async def _run_step(self, step: PreStartStep, env: Mapping[str, str]) -> None:
        logger.info("pre-start step %s", step.name)
        step_env = {**env, "EMPORIUM_INSTANCE": step.name}
        process = await self._spawner.python_module(step.module, step.args, step_env)
        try:
            output = await asyncio.wait_for(read_all(process), PRE_START_TIMEOUT)
            await asyncio.wait_for(process.wait(), PRE_START_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise LaunchError(
                f"pre-start step {step.name} took over {PRE_START_TIMEOUT:g}s"
            ) from None
        with self.layout.instance_log(step.name).open("ab") as log:
            log.write(output)
        text = output.decode(errors="replace")
        if self.output is not None:
            for line in text.splitlines():
                self.output(step.name, step.name, line)
        if process.returncode != 0:
            raise LaunchError(
                f"pre-start step {step.name} ({step.module}) failed with exit code "
                f"{process.returncode}:\n{text.rstrip() or '(no output)'}"
            )

    # -- summary and state --------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "var_dir": str(self.layout.root),
            "gateway_url": self.gateway_url,
            "storefront_url": f"{self.gateway_url}/",
            "api_docs_url": f"{self.gateway_url}/api/openapi.json",
            "broker_url": mask_url(self.broker_url),
            # The local default is a demo's; the prod profile refuses it, so never show it there.
            "admin_login": LOCAL_ADMIN_LOGIN if self.settings.profile == "local" else ADMIN_LOGIN,
            "startup_seconds": round(time.monotonic() - self._started, 2),
            "instances": self.supervisor.status() if self.supervisor else [],
        }

    def _info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "var_dir": str(self.layout.root),
            "gateway_url": self.gateway_url,
            "broker_url": mask_url(self.broker_url),
            "profile": self.settings.profile,
            "uptime": round(time.monotonic() - self._started, 1),
        }

    def _write_state(self, phase: str, **details: Any) -> None:
        document = {"phase": phase, "pid": os.getpid(), **details}
        write_private(self.layout.state, json.dumps(document))

    # -- stop ---------------------------------------------------------------

    async def stop(self) -> None:
        """Drain every instance, stop the broker last, release the var directory."""
        await self._teardown()
        self._write_state("stopped")
        self._lock.release()

    async def _teardown(self) -> None:
        if self._control is not None:
            await self._control.stop()
            self._control = None
        if self.supervisor is not None:
            await self.supervisor.shutdown()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._broker_timer is not None:
            self._broker_timer.cancel()
            self._broker_timer = None
        await self._spawner.close()
        if self._nats is not None:
            await asyncio.to_thread(self._nats.stop)
            self._nats = None

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def run(self, on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Start, call ``on_ready``, serve until SIGINT/SIGTERM, then drain and stop.

        Raises :class:`LaunchError` (or ``AlreadyRunning``) if start-up fails; a
        signal during start-up stops whatever was started and returns normally.
        """
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_stop)
        try:
            starting = asyncio.create_task(self.start())
            stop_wait = asyncio.create_task(self._stop_requested.wait())
            await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                logger.info("stop requested during start-up")
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, LaunchError):
                    await starting
                self._write_state("stopped")
                return
            stop_wait.cancel()
            summary = starting.result()  # re-raises a start-up failure
            if on_ready is not None:
                on_ready(summary)
            await self._stop_requested.wait()
            logger.info("draining")
            await self.stop()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
