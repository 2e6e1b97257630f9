"""The user tools on a real system: ``emporium chaos`` ends clean, latency and
errors injected through the launcher reach callers and clear, and ``emporium
restart`` under load fails no request.

Bounded: one system for the module, a 20 s chaos run (with kills on a timer, as
the 60 s run in bench/RESULTS.md, only shorter), a few seconds of injected
faults, and a load stopped a few seconds after the restart (at most 150 s), on
loopback.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emporium.launcher import ControlClient, VarLayout
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
        "chaos", "--duration", "20", "--kill", "0", "--kill-every", "9", "--freeze", "2",
        "--broker-stop", "3", "--errors", "cart:50%:2s", "--users", "6", "--seed", "7",
        "--settle", "60", "--out", str(out),
        timeout=200,
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{system.log_tail()}"
    report = json.loads((out / "chaos.json").read_text())
    assert report["audit"]["violations"] == []
    assert report["audit"]["pending"] == 0
    spaced = [f for f in report["faults"] if not f["periodic"]]
    assert [f["kind"] for f in spaced] == ["freeze", "broker", "errors"]
    # Kills on the timer, at 9 s and 18 s, beside the spaced faults.
    timed = [f for f in report["faults"] if f["periodic"]]
    assert [(f["kind"], f["planned_at"]) for f in timed] == [("kill", 9.0), ("kill", 18.0)]
    assert all(f["target"] and not f["target"].startswith("gateway") for f in timed)
    assert all(f["ended"] is not None for f in report["faults"])
    # The broker window is judged on every route no killed service was under.
    broker = spaced[1]
    assert broker["elsewhere"][0] > 0
    assert broker["success_elsewhere"] is not None
    assert report["elsewhere"]["requests"] > 0
    errors = spaced[2]
    assert errors["target"] == "cart"
    assert errors["injected"]["error_rate"] == 0.5
    assert errors["elsewhere"][0] > 0  # catalog reads, sign-ins: judged apart from cart's
    assert report["load"]["total"]["requests"] > 0
    assert (out / "chart.png").stat().st_size > 0
    assert "Audit: clean" in (out / "report.md").read_text()
    # Nothing is left frozen or stopped: every instance answers ready again.
    eventually(
        lambda: all(i["health"] == "ready" for i in system.status()),
        timeout=30,
        message="an instance stayed unready after the chaos run",
    )


def test_latency_and_errors_set_through_the_launcher_reach_callers_and_clear(
    system: System,
) -> None:
    control = ControlClient(VarLayout.at(system.var_dir).socket)

    def fault(service: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        return asyncio.run(control.fault(service, body))

    # Past the gateway's cache of catalog's answers (decision 0031): the fault
    # is in catalog, so every read here must reach it.
    fresh = {"Cache-Control": "no-cache"}

    def timed(client: httpx.Client, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        status = client.get(path, headers=fresh).status_code
        return status, time.perf_counter() - started

    with system.client() as client:
        product = client.get("/api/catalog/products", params={"limit": 1}).json()["items"][0]
        path = f"/api/catalog/products/{product['id']}"
        assert timed(client, path)[0] == 200

        code, body = fault("catalog", {"delay_ms": 600, "seconds": 30})
        assert code == 200, body
        assert [i["fault"]["delay_ms"] for i in body["instances"]] == [600]
        slowed = [timed(client, path) for _ in range(3)]
        assert all(status == 200 and took >= 0.6 for status, took in slowed), slowed
        # Probes are exempt: the launcher still sees catalog ready, at once.
        assert all(i["health"] == "ready" for i in system.instances("catalog"))
        code, body = fault("catalog", None)
        assert code == 200, body
        assert timed(client, path)[1] < 0.6

        # Every request fails, until the fault runs out by itself (nobody clears it).
        code, body = fault("catalog", {"error_rate": 1.0, "seconds": 3})
        assert code == 200, body
        assert client.get(path, headers=fresh).status_code == 503
        eventually(
            lambda: all(client.get(path, headers=fresh).status_code == 200 for _ in range(5)),
            timeout=30,
            message="catalog kept failing after its injected errors expired",
        )

    # Not the gateway, nor a service that is not there.
    assert fault("gateway", {"error_rate": 1.0, "seconds": 3})[0] == 404
    assert fault("nothing", {"error_rate": 1.0, "seconds": 3})[0] == 404


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
        try:
            output, _ = load.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            load.kill()
            pytest.fail(f"the load went on 60 s after Ctrl-C:\n{load.communicate()[0]}")
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
