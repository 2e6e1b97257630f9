"""Identity and the edge: gateway cost of token verification, and login throughput.

    .venv/bin/python -m bench.identity [--seconds 4] [--rounds 3] [--concurrency 32]

Starts one identity instance and two gateways in subprocesses on loopback: one
verifying tokens at the edge, one with edge auth off (identity still verifies
in both). In alternating rounds it sends ``GET /api/identity/me`` with a valid
token through each for a fixed time, and ``POST /api/identity/token`` with the
service's default argon2id parameters. Medians over rounds go to
bench/results/identity.md. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench import stop_on_sigterm
from emporium.launcher.nats import free_port
from emporium.services.identity.settings import IdentitySettings

RESULTS = Path(__file__).parent / "results" / "identity.md"
PASSWORD = "bench-password-123"


@contextlib.contextmanager
def process(module: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        [sys.executable, "-m", module],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield child
    finally:
        child.terminate()
        child.wait(timeout=15)


async def wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{url}/health/ready") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never became ready")


async def rate(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    seconds: float,
    concurrency: int,
    **kwargs: object,
) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            async with session.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url}: {response.status}")
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


async def run(seconds: float, rounds: int, concurrency: int) -> dict[str, list[float]]:
    var_dir = Path(tempfile.mkdtemp(prefix="bench-id-"))
    identity_port, protected_port, open_port = free_port(), free_port(), free_port()
    base = {"EMPORIUM_VAR_DIR": str(var_dir), "EMPORIUM_LOG_LEVEL": "WARNING"}
    identity_url = f"http://127.0.0.1:{identity_port}"
    gateway = {
        **base,
        "EMPORIUM_GATEWAY_UPSTREAMS": json.dumps({"identity": [identity_url]}),
        "EMPORIUM_GATEWAY_LOGIN_BURST": "1000000",
        "EMPORIUM_GATEWAY_LOGIN_RATE": "1000000",
        # One load generator, many logins: the anti-spraying budget would stop it.
        "EMPORIUM_GATEWAY_LOGIN_ADDRESS_BURST": "1000000",
        "EMPORIUM_GATEWAY_LOGIN_ADDRESS_RATE": "1000000",
    }
    results: dict[str, list[float]] = {"protected": [], "open": [], "login": []}
    async with contextlib.AsyncExitStack() as stack:
        connector = aiohttp.TCPConnector(limit=0)
        session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        stack.enter_context(
            process("emporium.services.identity", {**base, "EMPORIUM_PORT": str(identity_port)})
        )
        # Gateways after identity is ready, so their first JWKS fetch finds it.
        await wait_ready(session, identity_url)
        stack.enter_context(
            process("emporium.services.gateway", {**gateway, "EMPORIUM_PORT": str(protected_port)})
        )
        stack.enter_context(
            process(
                "emporium.services.gateway",
                {
                    **gateway,
                    "EMPORIUM_PORT": str(open_port),
                    "EMPORIUM_GATEWAY_AUTH_ENABLED": "false",
                },
            )
        )
        urls = {
            "protected": f"http://127.0.0.1:{protected_port}",
            "open": f"http://127.0.0.1:{open_port}",
        }
        for url in (identity_url, *urls.values()):
            await wait_ready(session, url)
        credentials = {"email": "bench@example.com", "password": PASSWORD}
        await session.post(f"{identity_url}/api/identity/users", json={**credentials, "name": "B"})
        async with session.post(f"{identity_url}/api/identity/token", json=credentials) as r:
            token = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for url in urls.values():  # warm-up: pools, JWKS cache
            await rate(session, "GET", f"{url}/api/identity/me", 0.5, concurrency, headers=headers)
        for index in range(rounds):
            order = ["protected", "open"] if index % 2 == 0 else ["open", "protected"]
            for name in order:
                results[name].append(
                    await rate(
                        session,
                        "GET",
                        f"{urls[name]}/api/identity/me",
                        seconds,
                        concurrency,
                        headers=headers,
                    )
                )
            results["login"].append(
                await rate(
                    session,
                    "POST",
                    f"{urls['protected']}/api/identity/token",
                    seconds,
                    concurrency // 4 or 1,
                    json=credentials,
                )
            )
    return results


def report(results: dict[str, list[float]], args: argparse.Namespace) -> str:
    protected = statistics.median(results["protected"])
    unprotected = statistics.median(results["open"])
    login = statistics.median(results["login"])
    argon = IdentitySettings()
    return "\n".join(
        [
            "# Identity and the edge: verification cost and login throughput",
            "",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
            f"- machine: nproc={os.cpu_count()}, load average at start "
            f"{os.getloadavg()[0]:.2f} (shared machine: expect noise)",
            f"- workload: GET /api/identity/me with a valid token through a gateway with edge "
            f"verification on vs off (identity verifies in both); {args.rounds} alternating "
            f"rounds of {args.seconds:g} s, concurrency {args.concurrency}; medians over rounds",
            f"- argon2id: time_cost={argon.argon2_time_cost}, memory={argon.argon2_memory_kib} KiB,"
            f" parallelism={argon.argon2_parallelism}; login concurrency "
            f"{args.concurrency // 4 or 1}",
            "- command: `.venv/bin/python -m bench.identity`",
            "",
            "| measurement | req/s (median) | rounds |",
            "|---|---:|---|",
            f"| GET /me, edge verification on | {protected:.0f} | "
            + ", ".join(f"{v:.0f}" for v in results["protected"])
            + " |",
            f"| GET /me, edge verification off | {unprotected:.0f} | "
            + ", ".join(f"{v:.0f}" for v in results["open"])
            + " |",
            f"| POST /api/identity/token (login) | {login:.1f} | "
            + ", ".join(f"{v:.1f}" for v in results["login"])
            + " |",
            "",
            f"**Ratio protected / unprotected: {protected / unprotected:.2f}** (goal >= 0.9)",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    results = asyncio.run(run(args.seconds, args.rounds, args.concurrency))
    text = report(results, args)
    RESULTS.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
