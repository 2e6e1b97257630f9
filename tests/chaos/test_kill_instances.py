"""Kill service processes with SIGKILL and watch the system heal by itself.

Bounded: each test sends a fixed stream of requests for a few seconds to the
system's own gateway on loopback and stops by itself.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests._poll import eventually
from tests._system import System, running_system
from tests.e2e._shop import admin

pytestmark = pytest.mark.e2e

# Past the gateway's cache of catalog's answers (decision 0031): these reads
# must reach a catalog instance, or a kill would go unseen.
FRESH = {"Cache-Control": "no-cache"}


@pytest.fixture
def single_catalog() -> Iterator[System]:
    with running_system() as system:
        yield system


@pytest.fixture
def three_catalogs() -> Iterator[System]:
    with running_system(replicas=["catalog=3"]) as system:
        yield system


def test_killed_only_catalog_gives_fast_503_then_recovers_without_help(
    single_catalog: System,
) -> None:
    system = single_catalog
    [catalog] = system.instances("catalog")
    with system.client() as client:
        assert client.get("/api/catalog/products?limit=1", headers=FRESH).status_code == 200
        os.kill(catalog["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        statuses: Counter[int] = Counter()
        slowest_503 = 0.0

        def browse() -> int:
            nonlocal slowest_503
            started = time.monotonic()
            response = client.get("/api/catalog/products?limit=1", headers=FRESH)
            elapsed = time.monotonic() - started
            statuses[response.status_code] += 1
            if response.status_code != 200:
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["retry-after"] == "1"
                slowest_503 = max(slowest_503, elapsed)
            return response.status_code

        eventually(
            browse,
            lambda status: status == 200,
            timeout=20,
            interval=0.02,
            message="catalog never came back",
        )
        recovered_after = time.monotonic() - killed_at
    print(
        f"statuses {dict(statuses)}; slowest 503 {slowest_503 * 1000:.1f} ms; "
        f"recovered after {recovered_after} s"
    )
    # Hang guard only: the real numbers are measured in bench/ (target 100 ms, 5 s).
    assert slowest_503 < 1.0
    [restarted] = system.instances("catalog")
    assert restarted["restarts"] == 1
    assert restarted["pid"] != catalog["pid"]
    assert restarted["health"] == "ready"


def test_killing_one_of_three_replicas_fails_no_request_beyond_those_in_flight(
    three_catalogs: System,
) -> None:
    system = three_catalogs
    catalogs = system.instances("catalog")
    assert len(catalogs) == 3
    workers, in_flight_at_kill = 4, 4  # at most one request in flight per worker
    stop = threading.Event()
    results: Counter[int] = Counter()
    lock = threading.Lock()

    def hammer() -> None:
        with system.client() as client:
            while not stop.is_set():
                try:
                    status = client.get("/api/catalog/products?limit=2", headers=FRESH).status_code
                except httpx.HTTPError:
                    status = -1
                with lock:
                    results[status] += 1

    threads = [threading.Thread(target=hammer) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        os.kill(catalogs[0]["pid"], signal.SIGKILL)
        time.sleep(2.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    failures = sum(n for status, n in results.items() if status != 200)
    print(f"results {dict(results)}")
    assert results[200] > 50
    assert failures <= in_flight_at_kill

    # The launcher restarts the killed replica, and load spreads over all three again.
    eventually(
        lambda: [i["health"] for i in system.instances("catalog")],
        lambda health: health.count("ready") == 3,
        timeout=20,
        message="the killed replica was not restarted",
    )
    with system.client() as client:
        for _ in range(60):
            assert client.get("/api/catalog/products?limit=1", headers=FRESH).status_code == 200
        # The gateway's upstream view is for administrators only.
        upstreams = client.get("/api/gateway/upstreams", headers=admin(client)).json()
    served = {
        u["instance"]: u["requests"] for u in upstreams["instances"] if u["service"] == "catalog"
    }
    assert len([n for n in served.values() if n > 0]) >= 3, served
