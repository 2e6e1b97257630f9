"""Starting the launcher's children: so they die with it and ignore the terminal's Ctrl-C.

Children get their own session, so Ctrl-C reaches only the launcher, which then
drains them in order. On Linux they also get SIGTERM if the launcher itself dies
(``kill -9``), so no orphans are left behind.

A :class:`Spawner` starts ``python -m MODULE`` children. :class:`ExecSpawner`
runs a new interpreter for each; :class:`ForkServer` asks one pre-imported
parent (:mod:`emporium.launcher.forkserver`) to fork them, which is much
faster and shares memory between them. Both hand back a :class:`Child`: what
the launcher needs of an :class:`asyncio.subprocess.Process`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

__all__ = [
    "Child",
    "ExecSpawner",
    "ForkServer",
    "ForkServerError",
    "ForkingSpawner",
    "Spawner",
    "read_all",
    "spawn",
    "terminate",
]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_MAX_PACKET = 1 << 20
_STREAM_LIMIT = 1 << 20


def _death_signal_setter() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        # Runs in the child between fork and exec: only an async-signal-safe call.
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal


_SET_DEATH_SIGNAL = _death_signal_setter()


async def spawn(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    capture: bool = True,
    stdout: IO[bytes] | None = None,
    pass_fds: Sequence[int] = (),
) -> asyncio.subprocess.Process:
    """Start ``command``; its output piped back (``capture``), into ``stdout``, or dropped."""
    out: IO[bytes] | int = stdout if stdout is not None else asyncio.subprocess.DEVNULL
    if capture and stdout is None:
        out = asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        *command,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=out,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_SET_DEATH_SIGNAL,
        pass_fds=tuple(pass_fds),
        limit=_STREAM_LIMIT,
    )


class Child(Protocol):
    """What the launcher uses of a child process (an asyncio ``Process`` is one)."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    @property
    def stdout(self) -> asyncio.StreamReader | None: ...
    async def wait(self) -> int: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


class Spawner(Protocol):
    async def python_module(
        self, module: str, args: Sequence[str], env: Mapping[str, str]
    ) -> Child: ...

    async def close(self) -> None: ...


async def terminate(process: Child, grace: float) -> int:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; return the exit code."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            return await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    return await process.wait()


async def read_all(process: Child) -> bytes:
    """Everything the child prints, until it closes its output."""
    if process.stdout is None:
        return b""
    return await process.stdout.read()


class ExecSpawner:
    """``python -m MODULE``: a new interpreter per child."""

    async def python_module(
        self, module: str, args: Sequence[str], env: Mapping[str, str]
    ) -> Child:
        return await spawn([sys.executable, "-m", module, *args], env)

    async def close(self) -> None:
        return None


class ForkServerError(RuntimeError):
    """The fork server could not start, or is gone."""


class _ForkedChild:
    """A child of the fork server: signalled by pid, its exit reported by the server."""

    def __init__(self, stdout: asyncio.StreamReader) -> None:
        self.pid = 0
        self.returncode: int | None = None
        self.stdout: asyncio.StreamReader | None = stdout
        self._exited = asyncio.Event()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def _signal(self, signum: int) -> None:
        # Once the server has reported the exit, the pid may belong to someone else.
        if self.returncode is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def exited(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._exited.set()


class ForkServer:
    """The launcher's end of :mod:`emporium.launcher.forkserver`."""

    def __init__(self, process: asyncio.subprocess.Process, control: socket.socket) -> None:
        self._process = process
        self._control = control
        self._next_id = 0
        self._pending: dict[int, tuple[_ForkedChild, asyncio.Future[int]]] = {}
        self._children: dict[int, _ForkedChild] = {}
        self._closed = False
        self._reader: asyncio.Task[None] | None = None
        self._watchers: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(
        cls,
        packages: Iterable[str],
        env: Mapping[str, str],
        *,
        log: Path,
        ready_within: float = 60.0,
    ) -> ForkServer:
        """Start the server, preload ``packages``, and return once it can fork."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = [sys.executable, "-m", "emporium.launcher.forkserver", str(theirs.fileno())]
        with theirs, log.open("ab") as output:
            process = await spawn(
                [*command, *packages], env, stdout=output, pass_fds=[theirs.fileno()]
            )
        ours.setblocking(False)
        server = cls(process, ours)
        loop = asyncio.get_running_loop()
        try:
            packet = await asyncio.wait_for(loop.sock_recv(ours, _MAX_PACKET), ready_within)
        except TimeoutError:
            await server.close()
            raise ForkServerError(f"fork server not ready after {ready_within:g}s") from None
        except BaseException:  # cancelled: leave no server behind
            await server.close()
            raise
        if not packet:
            await server.close()
            raise ForkServerError(f"fork server exited ({process.returncode}); see {log}")
        preload = json.loads(packet)["ready"]
        logger.info("fork server ready (pid %d, preload %ss)", process.pid, preload)
        server._reader = asyncio.create_task(server._read(), name="fork server")
        return server

    @property
    def alive(self) -> bool:
        return not self._closed and self._process.returncode is None

    async def python_module(
        self, module: str, args: Sequence[str], env: Mapping[str, str]
    ) -> Child:
        if not self.alive:
            raise ForkServerError("the fork server is gone")
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        reader = asyncio.StreamReader(limit=_STREAM_LIMIT, loop=loop)
        try:
            pipe, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(read_fd, "rb", 0)
            )
        except BaseException:
            os.close(write_fd)
            raise
        child = _ForkedChild(reader)
        self._next_id += 1
        request_id = self._next_id
        forked: asyncio.Future[int] = loop.create_future()
        self._pending[request_id] = (child, forked)
        message = {"id": request_id, "module": module, "args": list(args), "env": dict(env)}
        try:
            socket.send_fds(self._control, [json.dumps(message).encode()], [write_fd])
        except OSError as error:
            self._pending.pop(request_id, None)
            pipe.close()
            raise ForkServerError(f"could not reach the fork server: {error}") from error
        finally:
            os.close(write_fd)
        try:
            await forked
        except BaseException:
            pipe.close()
            raise
        return child

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while packet := await loop.sock_recv(self._control, _MAX_PACKET):
                self._handle(json.loads(packet))
        except (OSError, ValueError) as error:
            logger.error("fork server channel failed: %s", error)
        finally:
            self._closed = True
            self._lost()
            self._control.close()
            await terminate(self._process, 5.0)

    def _handle(self, message: dict[str, Any]) -> None:
        if "exit" in message:
            child = self._children.pop(message["exit"], None)
            if child is not None:
                child.exited(message["code"])
            return
        pending = self._pending.pop(message.get("id", -1), None)
        if pending is None:
            logger.warning("fork server: unexpected message %s", message)
            return
        child, forked = pending
        if "error" in message:
            forked.set_exception(ForkServerError(message["error"]))
            return
        child.pid = message["pid"]
        self._children[child.pid] = child
        forked.set_result(child.pid)

    def _lost(self) -> None:
        """The server is gone: its children die of their death signal; learn when."""
        for _, forked in self._pending.values():
            if not forked.done():
                forked.set_exception(ForkServerError("the fork server is gone"))
        self._pending.clear()
        for child in self._children.values():
            watcher = asyncio.get_running_loop().create_task(_await_death(child))
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
        self._children.clear()

    async def close(self) -> None:
        """Stop the server. Its remaining children get SIGTERM (their death signal)."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._control.shutdown(socket.SHUT_RDWR)
        await terminate(self._process, 5.0)
        if self._reader is not None:
            await self._reader
        self._control.close()  # never started reading: the reader did not close it


async def _await_death(child: _ForkedChild) -> None:
    # Not our child, so no waitpid: poll until the pid is gone (the exit status
    # went with the server; a death signal is what ended the child).
    while True:
        try:
            os.kill(child.pid, 0)
        except ProcessLookupError:
            child.exited(-signal.SIGTERM)
            return
        except PermissionError:
            pass
        await asyncio.sleep(0.1)


class ForkingSpawner:
    """Fork from a :class:`ForkServer`; start a new one if it died, exec if none will start."""

    def __init__(
        self,
        packages: Sequence[str],
        env: Mapping[str, str],
        *,
        log: Path,
        ready_within: float = 60.0,
    ) -> None:
        self._packages = list(packages)
        self._env = dict(env)
        self._log = log
        self._ready_within = ready_within
        self._server: ForkServer | None = None
        self._starting: asyncio.Task[ForkServer | None] | None = None
        self._exec = ExecSpawner()

    def warm_up(self) -> None:
        """Start the server in the background (it takes the imports' time)."""
        if self._starting is None:
            self._starting = asyncio.create_task(self._start(), name="start fork server")

    async def _start(self) -> ForkServer | None:
        started = time.monotonic()
        try:
            return await ForkServer.start(
                self._packages, self._env, log=self._log, ready_within=self._ready_within
            )
        except (ForkServerError, OSError) as error:
            logger.warning(
                "no fork server (%s) after %.1fs: starting instances as new interpreters",
                error, time.monotonic() - started,
            )  # fmt: skip
            return None

    async def _server_now(self) -> ForkServer | None:
        if self._server is not None and self._server.alive:
            return self._server
        if self._server is not None:
            logger.warning("the fork server is gone; starting a new one")
            self._server = None
            self._starting = None
        self.warm_up()
        assert self._starting is not None
        self._server = await self._starting
        return self._server

    async def python_module(
        self, module: str, args: Sequence[str], env: Mapping[str, str]
    ) -> Child:
        server = await self._server_now()
        if server is not None:
            try:
                return await server.python_module(module, args, env)
            except ForkServerError as error:
                logger.warning("fork server failed (%s); exec %s instead", error, module)
        return await self._exec.python_module(module, args, env)

    async def close(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()  # its start stops the half-started server
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        if self._server is not None:
            await self._server.close()
            self._server = None
