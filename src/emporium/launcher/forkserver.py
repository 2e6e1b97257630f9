"""The fork server: one pre-imported parent that forks every instance.

Each instance of each service used to start as ``python -m <module>`` and
spent over a second of CPU importing the same libraries (SQLAlchemy,
FastAPI, Pydantic, FastStream, aiohttp, OpenTelemetry) before doing anything
of its own: eleven of them on two cores were most of ``emporium up``. This
program imports them once, then forks a child per request. A child starts
with every module already in memory, and shares those pages with its
siblings until it writes to them (``gc.freeze`` keeps the collector from
doing that for it), which is also most of the memory the processes used to
hold eleven times over. Decision 0025 says why this and not
``multiprocessing``'s forkserver.

It runs as ``python -m emporium.launcher.forkserver FD MODULE...``: ``FD`` is
its end of a ``SOCK_SEQPACKET`` socket pair with the launcher
(:class:`emporium.launcher._process.ForkServer`), and each ``MODULE`` a
package to import before serving (with its ``main`` submodule, where the
heavy imports of a service live). Every packet is one JSON object:

- the launcher sends ``{"id", "module", "args", "env"}`` with the child's
  stdout as an ``SCM_RIGHTS`` file descriptor;
- the server answers ``{"ready": seconds}`` once, then ``{"id", "pid"}`` per
  fork (or ``{"id", "error"}``), and ``{"exit": pid, "code": code}`` whenever
  a child ends, ``code`` as :attr:`subprocess.Popen.returncode` has it.

A child is what ``python -m MODULE ARGS`` would be, as far as the module can
tell: its own session, stdin from /dev/null, stdout and stderr into the
launcher's pipe, the environment it was sent, ``__main__`` run by
:mod:`runpy`, and an ordinary interpreter exit (non-daemon threads joined,
``atexit`` run). What it cannot change is what the interpreter read at start
(``PYTHON*`` variables, the hash seed, which the children share).

Only the standard library is imported at the top: the point of the module is
what it imports later.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import importlib.util
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import time
from typing import Any

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1
_MAX_PACKET = 1 << 20

# What a chassis service imports only once it starts serving (uvicorn picks its
# loop, protocol and lifespan then; SQLAlchemy its dialect at the first engine).
# Imported here, they are shared too instead of imported again in every child.
SERVER_STACK = (
    "uvloop",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "aiosqlite",
)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def preload(packages: list[str]) -> int:
    """Import each package, its ``main`` submodule and the server stack; return how many.

    Only packages: a plain module run with ``-m`` may do its work at import.
    """
    imported = 0
    for package in packages:
        try:
            spec = importlib.util.find_spec(package)
            if spec is None or spec.submodule_search_locations is None:
                continue
            importlib.import_module(package)
            imported += 1
            if importlib.util.find_spec(f"{package}.main") is not None:
                importlib.import_module(f"{package}.main")
                imported += 1
        except Exception as error:  # the child shows it again, in context
            print(f"forkserver: could not preload {package}: {error!r}", file=sys.stderr)
    for module in SERVER_STACK:
        try:
            importlib.import_module(module)
            imported += 1
        except ImportError:  # not this project's stack: nothing to share
            pass
    return imported


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(control, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _become_child(out_fd: int, env: dict[str, str], closing: list[int], server: int) -> None:
    """In the forked child: the session, streams and environment of a fresh process."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in closing:
        os.close(fd)
    os.setsid()
    # Die with the fork server, as the server dies with the launcher.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != server:  # the server died before the death signal was set
        os._exit(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    os.environ.clear()
    os.environ.update(env)


def serve(control: socket.socket, packages: list[str]) -> tuple[str, list[str]]:
    """Preload, then fork on request. Returns only in a child: what it is to run."""
    started = time.monotonic()
    # No collections while importing: the imports allocate some hundred
    # thousand objects, almost none of them garbage, and the generational
    # passes they trigger cost 10-25 % of the preload. Nor one after: what it
    # would free leaves holes in the shared pages, and each child's first
    # allocations fill them, copying every such page into every child
    # (27 MiB over the whole system, bench/RESULTS.md). The little garbage
    # is frozen with the rest, held once, shared by all.
    gc.disable()
    preload(packages)
    if threading.active_count() != 1:
        # Forking a process with threads copies their locks in whatever state
        # they were; refuse, and the launcher starts instances the slow way.
        names = [thread.name for thread in threading.enumerate()]
        print(f"forkserver: a preload started threads {names}; not forking", file=sys.stderr)
        raise SystemExit(1)
    gc.freeze()  # the collector never touches (and so never copies) what is shared
    gc.enable()  # children collect as usual
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    _send(control, {"ready": round(time.monotonic() - started, 3)})
    while True:
        for key, _ in selector.select():
            if key.fileobj == wake_read:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 512):
                        pass
                _reap(control)
                continue
            data, fds, _flags, _address = socket.recv_fds(control, _MAX_PACKET, 1)
            if not data:
                raise SystemExit(0)  # the launcher closed its end: nothing more to start
            request = json.loads(data)
            if len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                _send(control, {"id": request.get("id"), "error": "expected one stdout fd"})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            server = os.getpid()
            pid = os.fork()
            if pid == 0:
                selector.close()
                closing = [control.detach(), wake_read, wake_write]
                _become_child(fds[0], request["env"], closing, server)
                return request["module"], list(request.get("args", []))
            os.close(fds[0])
            _send(control, {"id": request["id"], "pid": pid})


def main() -> None:
    fd = int(sys.argv[1])
    control = socket.socket(fileno=fd)
    module, args = serve(control, sys.argv[2:])
    # From here on this is the child: run the module as `python -m` would.
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
