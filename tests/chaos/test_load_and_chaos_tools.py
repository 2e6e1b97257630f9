"""The user tools on a real system: ``emporium chaos`` ends clean, and ``emporium
restart`` under load fails no request.

Bounded: one system for the module, a 15 s chaos run, and a load stopped a few
seconds after the restart (at most 150 s), on loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._poll import eventually
from tests._system import EMPORIUM, System, running_system

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with running_system() as running:
        yield running


def test_a_short_chaos_run_ends_with_a_clean_audit_and_no_order_pending(
    system: System, tmp_path: Path
) -> None:
    out = tmp_path / "chaos"
    result = system.cli(
        "chaos", "--duration", "15", "--kill", "1", "--freeze", "2", "--broker-stop", "3",
        "--users", "6", "--seed", "7", "--settle", "60", "--out", str(out),
        timeout=200,
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{system.log_tail()}"
    report = json.loads((out / "chaos.json").read_text())
    assert report["audit"]["violations"] == []
    assert report["audit"]["pending"] == 0
    assert [f["kind"] for f in report["faults"]] == ["kill", "freeze", "broker"]
    assert all(f["ended"] is not None for f in report["faults"])
    # The broker window is judged on every route (no request waits on the broker).
    broker = report["faults"][2]
    assert broker["elsewhere"][0] > 0
    assert broker["success_elsewhere"] is not None
    assert report["load"]["total"]["requests"] > 0
    assert (out / "chart.png").stat().st_size > 0
    assert "Audit: clean" in (out / "report.md").read_text()
    # Nothing is left frozen or stopped: every instance answers ready again.
    eventually(
        lambda: all(i["health"] == "ready" for i in system.status()),
        timeout=30,
        message="an instance stayed unready after the chaos run",
    )


def test_rolling_restart_under_a_closed_load_fails_no_request(
    system: System, tmp_path: Path
) -> None:
    out = tmp_path / "load"
    started = tmp_path / "started"
    # Long enough for a slow machine; stopped (Ctrl-C) a little after the restart.
    load = subprocess.Popen(
        [
            EMPORIUM, "load", "--duration", "150", "--users", "8",
            "--think-min", "0.2", "--think-max", "0.5", "--gateway", system.gateway,
            "--out", str(out), "--no-live", "--started-file", str(started),
        ],
        env=system.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        eventually(started.exists, timeout=60, message="the load did not start")
        time.sleep(3)  # shoppers signed in and browsing
        before = {i["pid"] for i in system.instances("catalog")}
        restarted = system.cli("restart", "catalog", timeout=120)
        assert restarted.returncode == 0, restarted.stderr
        time.sleep(3)  # and some traffic on the new instance alone
        assert load.poll() is None, "the load ended before the restart did"
        load.send_signal(signal.SIGINT)
        output, _ = load.communicate(timeout=60)
    finally:
        if load.poll() is None:
            load.kill()
        load.communicate()
    assert load.returncode == 130, output  # interrupted, and it still reported
    results = json.loads((out / "results.json").read_text())
    assert results["interrupted"] is True
    assert results["routes"]["GET /api/catalog/products/{id}"]["requests"] > 0
    assert results["total"]["errors"] == 0, json.dumps(results["routes"], indent=1)
    after = system.instances("catalog")
    assert len(after) == 1
    assert after[0]["pid"] not in before
    assert after[0]["health"] == "ready"
