"""The launcher's fork server: children as `python -m` makes them, exits reported, loss survived."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emporium.launcher._process import (
    ExecSpawner,
    ForkingSpawner,
    ForkServer,
    ForkServerError,
    read_all,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

REPO = Path(__file__).resolve().parents[2]
DUMMY = "tests.integration._dummy_service"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "EMPORIUM_VAR_DIR": str(tmp_path),
        "EMPORIUM_BROKER_URL": "nats://example:4222",
        **extra,
    }


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ForkServer]:
    # A package to preload (the dummy is a plain module, imported by each child).
    started = await ForkServer.start(
        ["emporium.launcher"], _env(tmp_path), log=tmp_path / "forkserver.log"
    )
    yield started
    await started.close()


async def test_a_forked_child_runs_the_module_as_main_with_its_own_env_and_exit_code(
    server: ForkServer, tmp_path: Path
) -> None:
    child = await server.python_module(DUMMY, ["fail"], _env(tmp_path))
    assert child.pid != os.getpid()
    output = await asyncio.wait_for(read_all(child), 10)
    assert await asyncio.wait_for(child.wait(), 10) == 3
    assert b"seed broke: the catalog is on fire" in output

    child = await server.python_module(DUMMY, ["seed"], _env(tmp_path, EMPORIUM_BROKER_URL="x"))
    assert b"seeded" in await asyncio.wait_for(read_all(child), 10)
    assert await asyncio.wait_for(child.wait(), 10) == 0
    # The environment sent with the request, not the server's own.
    assert (tmp_path / "data" / "seeded").read_text() == "x"


async def test_a_forked_child_collects_garbage_although_the_preload_did_not(
    server: ForkServer, tmp_path: Path
) -> None:
    child = await server.python_module(DUMMY, ["gc"], _env(tmp_path))
    output = await asyncio.wait_for(read_all(child), 10)
    assert b"gc enabled: True" in output
    # Not even once before the fork: what a collection frees leaves holes in
    # the shared pages, which every child's first allocations then copy.
    assert b"full collections: 0" in output
    assert await asyncio.wait_for(child.wait(), 10) == 0


async def test_a_child_killed_by_a_signal_reports_it_like_popen(
    server: ForkServer, tmp_path: Path
) -> None:
    env = _env(tmp_path, EMPORIUM_PORT="0", EMPORIUM_INSTANCE="alpha-1", EMPORIUM_HOST="127.0.0.1")
    child = await server.python_module(DUMMY, [], env)
    assert child.stdout is not None
    assert b"alpha-1 listening" in await asyncio.wait_for(child.stdout.readline(), 10)
    assert os.getsid(child.pid) == child.pid  # its own session: no terminal Ctrl-C
    child.kill()
    assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGKILL
    child.kill()  # after the exit was reported: a no-op, never a signal to a reused pid


async def test_children_of_a_lost_server_are_reported_and_a_new_server_takes_over(
    tmp_path: Path,
) -> None:
    spawner = ForkingSpawner(["emporium.launcher"], _env(tmp_path), log=tmp_path / "fs.log")
    env = _env(tmp_path, EMPORIUM_PORT="0", EMPORIUM_INSTANCE="beta-1", EMPORIUM_HOST="127.0.0.1")
    try:
        child = await spawner.python_module(DUMMY, [], env)
        assert child.stdout is not None
        await asyncio.wait_for(child.stdout.readline(), 10)
        first = spawner._server
        assert first is not None
        os.kill(first._process.pid, signal.SIGKILL)
        # The child dies of its death signal; the launcher learns it without the server.
        assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGTERM
        again = await spawner.python_module(DUMMY, ["seed"], _env(tmp_path))
        assert await asyncio.wait_for(again.wait(), 10) == 0
        assert spawner._server is not None
        assert spawner._server is not first
    finally:
        await spawner.close()


async def test_without_a_server_children_are_new_interpreters(tmp_path: Path) -> None:
    # A preload that cannot fork (it starts a thread) makes the server refuse;
    # the spawner then execs, and says why in the log.
    spawner = ForkingSpawner(
        ["tests.integration._threaded_preload"],
        _env(tmp_path),
        log=tmp_path / "fs.log",
        ready_within=30,
    )
    try:
        child = await spawner.python_module(DUMMY, ["seed"], _env(tmp_path))
        assert await asyncio.wait_for(child.wait(), 20) == 0
        assert spawner._server is None
        assert "not forking" in (tmp_path / "fs.log").read_text()
    finally:
        await spawner.close()


async def test_a_server_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ForkServerError, match="exited"):
        await ForkServer.start(
            ["tests.integration._threaded_preload"], _env(tmp_path), log=tmp_path / "fs.log"
        )


async def test_exec_spawner_runs_python_dash_m(tmp_path: Path) -> None:
    child = await ExecSpawner().python_module(DUMMY, ["fail"], _env(tmp_path))
    assert b"on fire" in await read_all(child)
    assert await child.wait() == 3
