"""The launcher with real processes: a dummy service table, temporary var dirs, free ports."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from emporium.launcher import (
    AlreadyRunningError,
    Launcher,
    LaunchError,
    LauncherSettings,
    ReplicaError,
    ServiceSpec,
    ServiceTable,
)
from emporium.launcher.nats import free_port
from tests._poll import eventually, eventually_async
from tests.integration._dummy_service import FAILING_SEED, SERVICES

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
TABLE_PATH = "tests.integration._dummy_service:SERVICES"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


def _registry(var: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((var / "run" / "registry.json").read_text())
    return document


@pytest.fixture
def short_var() -> Iterator[Path]:
    # Unix socket paths are limited to 107 bytes: pytest's tmp_path can be too long.
    root = Path(tempfile.mkdtemp(prefix="emp-"))
    yield root / "var"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def importable_dummy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def _settings(var: Path, **overrides: Any) -> LauncherSettings:
    values: dict[str, Any] = {
        "var_dir": var,
        "gateway_port": free_port(),
        "broker": "rabbitmq",  # the dummy never connects; the URL is only passed on
        "rabbitmq_url": "amqp://guest:guest@127.0.0.1:1/",
        "launcher_ready_timeout": 30.0,
        "launcher_drain_seconds": 0.1,
        "launcher_stop_timeout": 5.0,
    }
    values.update(overrides)
    return LauncherSettings(**values)


@pytest.fixture
async def launcher(short_var: Path) -> AsyncIterator[Launcher]:
    running = Launcher(_settings(short_var), table=SERVICES)
    await running.start()
    yield running
    await running.stop()


def _by_name(launcher: Launcher) -> dict[str, dict[str, Any]]:
    assert launcher.supervisor is not None
    return {i["instance"]: i for i in launcher.supervisor.status()}


async def test_every_instance_becomes_ready_and_non_gateway_ones_are_registered(
    launcher: Launcher, short_var: Path
) -> None:
    instances = _by_name(launcher)
    assert set(instances) == {"alpha-1", "alpha-2", "beta-1", "gateway-1"}
    assert all(i["state"] == "ready" for i in instances.values())
    registry = _registry(short_var)
    assert {e["instance"] for e in registry["instances"]} == {"alpha-1", "alpha-2", "beta-1"}
    for entry in registry["instances"]:
        assert entry["pid"] == instances[entry["instance"]]["pid"]
        assert _get_json(f"{entry['url']}/health/ready") == {"status": "ok"}
    seen = _get_json(f"{launcher.gateway_url}/whoami")
    assert seen["EMPORIUM_PORT"] == str(launcher.settings.gateway_port)
    assert seen["EMPORIUM_INSTANCE"] == "gateway-1"
    assert seen["EMPORIUM_GATEWAY_REGISTRY"] == str(launcher.layout.registry)
    assert seen["EMPORIUM_VAR_DIR"] == str(launcher.layout.root)
    assert seen["EMPORIUM_BROKER_URL"] == "amqp://guest:guest@127.0.0.1:1/"
    assert seen["EMPORIUM_PROFILE"] == "local"
    assert (short_var / "data" / "seeded").exists()
    assert "alpha-1 listening" in (short_var / "log" / "alpha-1.log").read_text()


async def test_killed_instance_is_restarted_on_a_new_port_and_reregistered(
    launcher: Launcher, short_var: Path
) -> None:
    before = _by_name(launcher)["alpha-1"]
    os.kill(before["pid"], signal.SIGKILL)

    async def alpha() -> dict[str, Any]:
        return _by_name(launcher)["alpha-1"]

    await eventually_async(
        alpha,
        lambda now: now["restarts"] == 1 and now["state"] == "ready",
        timeout=10,
        message="alpha-1 was not restarted and ready again",
    )
    after = _by_name(launcher)["alpha-1"]
    assert after["port"] != before["port"]
    urls = {e["instance"]: e["url"] for e in _registry(short_var)["instances"]}
    assert urls["alpha-1"] == after["url"]
    assert _by_name(launcher)["alpha-2"]["restarts"] == 0


async def test_scale_changes_only_the_named_service(launcher: Launcher, short_var: Path) -> None:
    assert launcher.supervisor is not None
    others = {n: i["pid"] for n, i in _by_name(launcher).items() if not n.startswith("alpha")}

    result = await launcher.supervisor.scale("alpha=3")
    assert result["started"] == ["alpha-3"]
    registered = {e["instance"] for e in _registry(short_var)["instances"]}
    assert registered == {"alpha-1", "alpha-2", "alpha-3", "beta-1"}

    stopped_pids = [_by_name(launcher)[n]["pid"] for n in ("alpha-2", "alpha-3")]
    result = await launcher.supervisor.scale("alpha=1")
    assert sorted(result["stopped"]) == ["alpha-2", "alpha-3"]
    assert not any(_alive(pid) for pid in stopped_pids)
    registered = {e["instance"] for e in _registry(short_var)["instances"]}
    assert registered == {"alpha-1", "beta-1"}
    assert {n: i["pid"] for n, i in _by_name(launcher).items() if n in others} == others

    with pytest.raises(ReplicaError, match="at most 1"):
        await launcher.supervisor.scale("gateway=2")


async def test_shutdown_stops_every_child_and_removes_the_socket(short_var: Path) -> None:
    running = Launcher(_settings(short_var), table=SERVICES)
    await running.start()
    pids = [i["pid"] for i in _by_name(running).values()]
    assert (short_var / "run" / "launcher.sock").exists()

    await running.stop()

    assert not any(_alive(pid) for pid in pids)
    assert not (short_var / "run" / "launcher.sock").exists()
    assert not (short_var / "run" / "launcher.pid").exists()
    assert _registry(short_var)["instances"] == []


async def test_a_second_launcher_on_the_same_var_dir_refuses(
    launcher: Launcher, short_var: Path
) -> None:
    second = Launcher(_settings(short_var), table=SERVICES)
    with pytest.raises(AlreadyRunningError, match="already running"):
        await second.start()


async def test_a_failing_pre_start_step_fails_up_with_its_output(short_var: Path) -> None:
    failing = Launcher(_settings(short_var), table=FAILING_SEED)
    with pytest.raises(LaunchError, match="the catalog is on fire"):
        await failing.start()
    # Nothing was left holding the var directory.
    retry = Launcher(_settings(short_var), table=SERVICES)
    await retry.start()
    await retry.stop()


async def test_a_service_that_never_gets_ready_is_named_with_its_log(short_var: Path) -> None:
    never_ready = ServiceSpec("broken", "tests.integration._no_such_module")
    broken = ServiceTable(services=(SERVICES.services[0], never_ready))
    # Long enough for the healthy replicas to be ready on a loaded machine, so only
    # the broken one is named.
    launcher = Launcher(_settings(short_var, launcher_ready_timeout=8.0), table=broken)
    with pytest.raises(LaunchError, match=r"not ready after 8s: broken-1") as failure:
        await launcher.start()
    assert "No module named" in str(failure.value)


# -- the CLI, as a user runs it ------------------------------------------------


def _cli(
    *arguments: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "emporium.cli", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=REPO,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def cli_env(short_var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "EMPORIUM_VAR_DIR": str(short_var),
        "EMPORIUM_LAUNCHER_SERVICES": TABLE_PATH,
        "EMPORIUM_LAUNCHER_DRAIN_SECONDS": "0.1",
        "EMPORIUM_GATEWAY_PORT": str(free_port()),
    }


def test_cli_up_detach_status_scale_down_cycle(cli_env: dict[str, str], short_var: Path) -> None:
    up = _cli("up", "--detach", "--replicas", "beta=2", env=cli_env)
    gateway = f"http://127.0.0.1:{cli_env['EMPORIUM_GATEWAY_PORT']}"
    assert gateway in up.stdout
    assert "nats://127.0.0.1:" in up.stdout
    assert "admin@emporium.local" in up.stdout

    again = _cli("up", "--detach", env=cli_env, check=False)
    assert again.returncode == 1
    assert "already running" in again.stderr

    instances = json.loads(_cli("status", "--json", env=cli_env).stdout)
    keys = {"service", "instance", "pid", "port", "url", "health", "restarts", "state", "uptime"}
    assert all(keys <= set(i) for i in instances)
    assert sorted(i["instance"] for i in instances) == [
        "alpha-1", "alpha-2", "beta-1", "beta-2", "gateway-1"
    ]  # fmt: skip
    assert {i["health"] for i in instances} == {"ready"}

    for bad, message in (
        ("alpha=x", "whole number"),
        ("nope=1", "unknown service"),
        ("gateway=2", "at most 1"),
    ):
        refused = _cli("scale", bad, env=cli_env, check=False)
        assert refused.returncode == 2
        assert message in refused.stderr
    assert "stopped beta-2" in _cli("scale", "beta=1", env=cli_env).stdout
    assert "beta-1 listening" in _cli("logs", "beta", env=cli_env).stdout

    pids = [i["pid"] for i in instances]
    _cli("down", env=cli_env)
    assert not any(_alive(pid) for pid in pids)
    assert not (short_var / "run" / "launcher.sock").exists()
    stopped = _cli("status", env=cli_env, check=False)
    assert stopped.returncode == 1
    assert "no launcher is running" in stopped.stderr


def test_cli_up_detach_reports_a_failed_start_and_leaves_nothing_running(
    cli_env: dict[str, str], short_var: Path
) -> None:
    env = {**cli_env, "EMPORIUM_LAUNCHER_SERVICES": "tests.integration._dummy_service:FAILING_SEED"}
    up = _cli("up", "--detach", env=env, check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    assert "seed" in up.stderr
    assert str(short_var / "log" / "launcher.log") in up.stderr.replace("\n", "")
    state = json.loads((short_var / "run" / "state").read_text())
    assert state["phase"] == "failed"
    assert not _alive(state["pid"])  # the forked launcher exited; this command reaped it
    assert _cli("status", env=env, check=False).returncode == 1


def test_cli_up_in_the_foreground_streams_prefixed_output_and_drains_on_sigterm(
    cli_env: dict[str, str], short_var: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "emporium.cli", "up", "--broker", "rabbitmq"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    try:

        def launcher_state() -> dict[str, Any]:
            assert process.poll() is None, "launcher exited early"
            found: dict[str, Any] = json.loads((short_var / "run" / "state").read_text())
            return found

        state = eventually(
            launcher_state,
            lambda found: found.get("phase") == "ready",
            timeout=60,
            message="launcher not ready in time",
            ignoring=(OSError, ValueError),
        )
        pids = [i["pid"] for i in state["summary"]["instances"]]
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Emporium is up" in output
    assert any(
        line.startswith("alpha-1") and "| alpha-1 listening" in line for line in output.splitlines()
    )
    assert not any(_alive(pid) for pid in pids)


async def test_restart_replaces_one_services_instances_with_the_added_environment(
    launcher: Launcher, short_var: Path
) -> None:
    """What the tracing bench relies on: new processes, the new env, others kept."""
    assert launcher.supervisor is not None
    before = _by_name(launcher)
    result = await launcher.supervisor.restart("alpha", {"EMPORIUM_TRACING": "false"})
    assert len(result["restarted"]) == 2
    assert result["not_ready"] == []
    after = _by_name(launcher)
    assert sorted(n for n in after if n.startswith("alpha")) == sorted(result["restarted"])
    for name in ("alpha-1", "alpha-2"):
        assert not _alive(before[name]["pid"])
    for name in result["restarted"]:
        # Asked of the process, not read from /proc/PID/environ: a forked child's
        # environment is not the block the kernel recorded at exec.
        assert _get_json(f"{after[name]['url']}/environ")["EMPORIUM_TRACING"] == "false"
    assert after["beta-1"]["pid"] == before["beta-1"]["pid"]
    registered = {e["instance"]: e["url"] for e in _registry(short_var)["instances"]}
    for name in result["restarted"]:
        assert registered[name] == after[name]["url"]

    with pytest.raises(ReplicaError, match="only EMPORIUM_"):
        await launcher.supervisor.restart("alpha", {"PATH": "/tmp"})


async def test_restart_is_rolling_the_registry_never_has_fewer_instances_than_before(
    launcher: Launcher,
) -> None:
    """Each replacement is registered (ready) before the instance it replaces leaves."""
    supervisor = launcher.supervisor
    assert supervisor is not None
    counts: list[int] = []
    write = supervisor.registry.write

    def counting(entries: Any, services: Any = ()) -> dict[str, Any]:
        entries = list(entries)
        counts.append(sum(e.service == "alpha" for e in entries))
        return write(entries, services)

    supervisor.registry.write = counting  # type: ignore[method-assign]
    await supervisor.restart("alpha", {})
    assert counts, "the registry was never rewritten"
    assert min(counts) >= 2, counts
    assert max(counts) == 3, counts  # one extra at a time, never all at once


async def test_a_frozen_instance_is_resumed_by_the_launcher_after_its_seconds(
    launcher: Launcher,
) -> None:
    supervisor = launcher.supervisor
    assert supervisor is not None
    pid = _by_name(launcher)["beta-1"]["pid"]
    supervisor.send_signal("beta-1", signal.SIGSTOP, resume_after=1.0)

    async def state() -> str:
        return _state(pid)

    # A signal is delivered asynchronously: the state letter changes a moment later.
    await eventually_async(state, lambda s: s == "T", timeout=1, message="beta-1 not frozen")
    await eventually_async(state, lambda s: s != "T", timeout=5, message="beta-1 not resumed")
    with pytest.raises(ReplicaError, match="no running instance"):
        supervisor.send_signal("nobody-1", signal.SIGKILL)


async def test_shutdown_resumes_a_frozen_instance_so_it_can_drain(
    short_var: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = Launcher(_settings(short_var), table=SERVICES)
    await running.start()
    assert running.supervisor is not None
    pid = _by_name(running)["beta-1"]["pid"]
    running.supervisor.send_signal("beta-1", signal.SIGSTOP)  # no timer: until resumed
    with caplog.at_level(logging.INFO, logger="emporium.launcher.instance"):
        await running.stop()
    assert not _alive(pid)
    # Frozen, it would ignore SIGTERM until the stop timeout and be SIGKILLed (exit -9).
    [stopped] = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("beta-1 stopped")
    ]
    assert "exit -9" not in stopped, stopped


def _state(pid: int) -> str:
    """The process state letter from /proc (T: stopped by a signal)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
