"""The launcher's control API on a Unix socket: ``GET /status``, ``POST /scale``,
``POST /restart`` (one service's instances, one at a time, with environment
added), and the chaos tools' faults: ``POST /signal`` (one instance: KILL, STOP
with an optional ``resume_after``, CONT, TERM) and ``POST /broker`` (stop the
embedded broker, optionally for ``resume_after`` seconds, or start it again)
and ``POST /fault`` (latency or errors in one service's responses, on every
instance of it or on one, until its seconds pass or ``"fault": null``).

Only the user who owns the var directory can reach the socket, and nothing
listens on TCP. :class:`ControlClient` is what the CLI uses; it raises
:class:`NotRunningError` when there is no launcher behind the socket.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from emporium.launcher.faults import FaultRefusedError, inject
from emporium.launcher.specs import ReplicaError
from emporium.launcher.supervisor import Supervisor

__all__ = [
    "SIGNALS",
    "BrokerSwitch",
    "ControlClient",
    "ControlServer",
    "NotRunningError",
    "probe_health",
]

# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107


# The signals a client may send: a crash, a freeze and its end, a polite stop.
SIGNALS = {
    s.name.removeprefix("SIG"): s
    for s in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCONT, signal.SIGTERM)
}


class BrokerSwitch(Protocol):
    """The launcher's own broker, stopped and started on request."""

    async def stop_broker(self, resume_after: float | None) -> dict[str, Any]: ...

    async def start_broker(self) -> dict[str, Any]: ...


class NotRunningError(RuntimeError):
    """No launcher answers on this var directory's control socket."""


async def probe_health(session: aiohttp.ClientSession, url: str | None) -> str:
    """``ready`` (200), ``not-ready`` (any other answer) or ``down`` (no answer).

    "No answer" means none in 3 s: an instance busy starting up on a loaded
    machine answers late, and is not down.
    """
    if url is None:
        return "down"
    try:
        async with session.get(
            f"{url}/health/ready", timeout=aiohttp.ClientTimeout(total=3.0)
        ) as response:
            return "ready" if response.status == 200 else "not-ready"
    except (aiohttp.ClientError, TimeoutError):
        return "down"


def _remove_stale(path: Path) -> None:
    # We hold the var directory's lock, so a socket file left here is a dead launcher's.
    path.unlink(missing_ok=True)


def _owner_only(path: Path) -> None:
    path.chmod(0o600)


class ControlServer:
    def __init__(
        self,
        supervisor: Supervisor,
        session: aiohttp.ClientSession,
        info: Callable[[], dict[str, Any]],
        broker: BrokerSwitch | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.broker = broker
        self.session = session
        self.info = info
        self._runner: web.AppRunner | None = None
        self.path: Path | None = None

    async def start(self, path: Path) -> None:
        if len(str(path).encode()) > MAX_SOCKET_PATH:
            raise RuntimeError(
                f"control socket path is too long for a Unix socket ({path}); "
                "use a shorter --var-dir"
            )
        _remove_stale(path)
        app = web.Application()
        app.router.add_get("/status", self._status)
        app.router.add_post("/scale", self._scale)
        app.router.add_post("/restart", self._restart)
        app.router.add_post("/signal", self._signal)
        app.router.add_post("/broker", self._broker)
        app.router.add_post("/fault", self._fault)
        # A scale request still waiting for readiness must not hold up shutdown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(path)).start()
        _owner_only(path)
        self.path = path

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    async def _status(self, request: web.Request) -> web.Response:
        instances = self.supervisor.status()
        healths = await asyncio.gather(
            *(probe_health(self.session, i["url"] if i["pid"] else None) for i in instances)
        )
        for instance, health in zip(instances, healths, strict=True):
            instance["health"] = health
        return web.json_response({"launcher": self.info(), "instances": instances})

    async def _scale(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            argument = str(body["scale"])
            timeout = float(body.get("ready_timeout", 60.0))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected {"scale": "SERVICE=N"}'}, status=400)
        try:
            result = await self.supervisor.scale(argument, ready_timeout=timeout)
        except ReplicaError as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(result)

    async def _restart(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            service = str(body["service"])
            env = {str(k): str(v) for k, v in dict(body.get("env") or {}).items()}
            timeout = float(body.get("ready_timeout", 60.0))
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.json_response(
                {"error": 'expected {"service": "catalog", "env": {"EMPORIUM_...": "..."}}'},
                status=400,
            )
        try:
            result = await self.supervisor.restart(service, env, ready_timeout=timeout)
        except ReplicaError as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(result)

    async def _signal(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            name = str(body["instance"])
            signum = SIGNALS[str(body["signal"]).upper().removeprefix("SIG")]
            after = body.get("resume_after")
            resume_after = None if after is None else float(after)
        except (ValueError, KeyError, TypeError, AttributeError):
            choices = ", ".join(SIGNALS)
            return web.json_response(
                {"error": f'expected {{"instance": "catalog-1", "signal": one of {choices}}}'},
                status=400,
            )
        try:
            result = self.supervisor.send_signal(name, signum, resume_after=resume_after)
        except ReplicaError as error:
            return web.json_response({"error": str(error)}, status=404)
        return web.json_response(result)

    async def _broker(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            action = str(body["action"])
            after = body.get("resume_after")
            resume_after = None if after is None else float(after)
            if action not in ("stop", "start"):
                raise ValueError(action)
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.json_response(
                {"error": 'expected {"action": "stop" | "start", "resume_after": seconds}'},
                status=400,
            )
        if self.broker is None:
            return web.json_response(
                {"error": "this launcher uses an external broker; it can only stop its own"},
                status=409,
            )
        if action == "stop":
            return web.json_response(await self.broker.stop_broker(resume_after))
        return web.json_response(await self.broker.start_broker())

    async def _fault(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            service = str(body["service"])
            instance = body.get("instance")
            fault = body["fault"]
            if fault is not None and not isinstance(fault, dict):
                raise TypeError(fault)
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.json_response(
                {
                    "error": 'expected {"service": "catalog", "instance": null, '
                    '"fault": {"delay_ms": 300, "error_rate": 0.5, "seconds": 5} | null}'
                },
                status=400,
            )
        try:
            result = await inject(
                self.session,
                self.supervisor.instances,
                service,
                fault,
                instance=None if instance is None else str(instance),
            )
        except ReplicaError as error:
            return web.json_response({"error": str(error)}, status=404)
        except FaultRefusedError as error:
            return web.json_response({"error": str(error)}, status=409)
        return web.json_response(result)


class ControlClient:
    def __init__(self, socket_path: Path, timeout: float = 120.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    async def request(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        if not self.socket_path.exists():
            raise NotRunningError(f"no launcher is running (no {self.socket_path})")
        connector = aiohttp.UnixConnector(path=str(self.socket_path))
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
                session.request(method, f"http://launcher{path}", json=payload) as response,
            ):
                return response.status, await response.json()
        except aiohttp.ClientConnectionError as error:
            raise NotRunningError(f"no launcher answers on {self.socket_path} ({error})") from None

    async def status(self) -> dict[str, Any]:
        _, body = await self.request("GET", "/status")
        result: dict[str, Any] = body
        return result

    async def scale(self, argument: str, ready_timeout: float = 60.0) -> tuple[int, Any]:
        return await self.request(
            "POST", "/scale", {"scale": argument, "ready_timeout": ready_timeout}
        )

    async def restart(
        self, service: str, env: dict[str, str] | None = None, ready_timeout: float = 60.0
    ) -> tuple[int, Any]:
        return await self.request(
            "POST",
            "/restart",
            {"service": service, "env": env or {}, "ready_timeout": ready_timeout},
        )

    async def signal(
        self, instance: str, signal_name: str, resume_after: float | None = None
    ) -> tuple[int, Any]:
        return await self.request(
            "POST",
            "/signal",
            {"instance": instance, "signal": signal_name, "resume_after": resume_after},
        )

    async def broker(self, action: str, resume_after: float | None = None) -> tuple[int, Any]:
        return await self.request(
            "POST", "/broker", {"action": action, "resume_after": resume_after}
        )

    async def fault(
        self, service: str, fault: dict[str, Any] | None, instance: str | None = None
    ) -> tuple[int, Any]:
        """Set ``fault`` on ``service``'s instances (or ``instance``); None clears it."""
        return await self.request(
            "POST", "/fault", {"service": service, "instance": instance, "fault": fault}
        )
