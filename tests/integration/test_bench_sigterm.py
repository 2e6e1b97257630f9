"""A benchmark told to stop (SIGTERM) stops the system it started.

Killed that way, a benchmark used to leave its whole system running (nine
services, NATS, the launcher), loading the machine for every measurement
after it. Here ``bench.skeleton`` starts a system in a var dir under this
test's own TMPDIR, is sent SIGTERM once the system is up, and must leave no
process of it behind. The TMPDIR is a short one of its own under /tmp: the
launcher's control socket lives in the var dir, and a Unix socket's path
may not be longer than 107 bytes (pytest's own ``tmp_path`` under xdist is
too deep).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._poll import eventually


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


EMPORIUM = str(Path(sys.executable).parent / "emporium")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A directory of this test's own, with a short path; what a failed run
    left in it is stopped, so one failure does not load the rest of the suite."""
    path = Path(tempfile.mkdtemp(prefix="eb-", dir="/tmp"))
    yield path
    for var_dir in path.glob("emp-bench-*"):
        subprocess.run(
            [EMPORIUM, "down", "--var-dir", str(var_dir)],
            capture_output=True,
            timeout=60,
            check=False,
        )
    shutil.rmtree(path, ignore_errors=True)


def _system(var_dir: Path) -> list[int]:
    """The processes of the system in ``var_dir`` once every instance is ready:
    the launcher, NATS and each instance (the gateway's included); else []."""
    status = subprocess.run(
        [EMPORIUM, "status", "--json", "--var-dir", str(var_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if status.returncode != 0:
        return []
    instances = json.loads(status.stdout)
    if len(instances) < 11 or any(i.get("state") != "ready" for i in instances):
        return []
    launcher = (var_dir / "run" / "launcher.pid").read_text().split()
    nats = (var_dir / "nats" / "nats-server.pid").read_text().split()
    return [int(launcher[0]), int(nats[0]), *(int(i["pid"]) for i in instances)]


def test_a_benchmark_sent_sigterm_stops_the_system_it_started(short_tmp: Path) -> None:
    env = {**os.environ, "TMPDIR": str(short_tmp)}
    command = [sys.executable, "-m", "bench.skeleton", "--starts", "0", "--rounds", "50"]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as bench:
        try:

            def running_system() -> list[int]:
                if bench.poll() is not None:
                    pytest.fail(f"the benchmark ended by itself: {bench.communicate()[1][-2000:]}")
                var_dirs = list(short_tmp.glob("emp-bench-*"))
                return _system(var_dirs[0]) if var_dirs else []

            pids = eventually(
                running_system,
                timeout=90,
                message="the benchmark never started its system",
                ignoring=(ValueError, OSError, IndexError),  # a file being written
            )
            assert all(_alive(pid) for pid in pids)
            time.sleep(1)  # into its measurements
            bench.send_signal(signal.SIGTERM)
            _, stderr = bench.communicate(timeout=120)
            assert bench.returncode == 128 + signal.SIGTERM, stderr[-2000:]
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.communicate()
    # `emporium down` returns once the launcher has been told; give the
    # processes the launcher's own grace to finish.
    left = eventually(
        lambda: [pid for pid in pids if _alive(pid)],
        lambda alive: alive == [],
        timeout=20,
        message="still running after the benchmark stopped",
    )
    assert left == []
    assert list(short_tmp.glob("emp-bench-*")) == []  # its var dir removed too
