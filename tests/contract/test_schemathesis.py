"""The merged OpenAPI at /api/openapi.json says exactly what the running system answers.

Schemathesis generates requests from the document (examples, coverage, fuzzing
and stateful phases, every check) and sends them through the gateway of a real
system, as a customer and as an admin. Any status, content type, header or body
the document does not declare, any schema-valid request refused, any 5xx, is a
failure. This is the bounded run; ``make conformance`` is the full one, with the
same configuration (``schemathesis.toml``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from tests._system import System, running_system
from tests.e2e._shop import ADMIN, login, signed_in

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 3  # per operation and phase; `make conformance` runs 100
SEED = 20261128  # fixed, so a failure here reproduces with the same seed


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with running_system() as system:
        yield system


def _token(system: System, role: str) -> str:
    with system.client() as client:
        headers = login(client, **ADMIN) if role == "admin" else signed_in(client)
    return headers["Authorization"].removeprefix("Bearer ")


def _config(token: str) -> SchemathesisConfig:
    data: dict[str, Any] = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    data["headers"] = {"Authorization": f"Bearer {token}"}
    data["seed"] = SEED
    data["generation"] = {"max-examples": MAX_EXAMPLES, "database": "none"}
    return SchemathesisConfig.from_dict(data)


def _failures(url: str, config: SchemathesisConfig) -> tuple[list[str], list[str]]:
    """(failed checks, engine errors) of one whole run."""
    schema = schemathesis.openapi.from_url(url, config=config)
    failures: list[str] = []
    errors: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE:
                        info = check.failure_info
                        detail = info.failure.title if info is not None else ""
                        failures.append(f"{event.recorder.label}: {check.name}: {detail}")
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            errors.append(repr(event.exception))
    return sorted(set(failures)), errors


@pytest.mark.parametrize("role", ["customer", "admin"])
def test_every_generated_request_gets_a_documented_answer(system: System, role: str) -> None:
    document = httpx.get(f"{system.gateway}/api/openapi.json", timeout=10).json()
    assert not document.get("x-emporium-unavailable"), "a service's document is missing"
    failures, errors = _failures(
        f"{system.gateway}/api/openapi.json", _config(_token(system, role))
    )
    assert not errors, "\n".join(errors)
    assert not failures, f"{len(failures)} failures as {role}:\n" + "\n".join(failures)
