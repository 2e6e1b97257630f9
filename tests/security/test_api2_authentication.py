"""API2:2023 Broken Authentication: guessing and spraying passwords is throttled
per address and per account, X-Forwarded-For buys no fresh budget, forged
tokens are refused, and an unknown email looks exactly like a wrong password."""

from __future__ import annotations

import uuid

import pytest

from emporium.services.identity.keys import kid_for
from tests._system import System
from tests.integration.test_gateway_edge import forged_tokens
from tests.security.conftest import PASSWORD, SIGNING_KEY, Caller, connect, is_problem

pytestmark = [pytest.mark.e2e, pytest.mark.security]

SPRAYED = "Summer2026!"


def spray(caller: Caller, attempts: int, headers: dict[str, str] | None = None) -> list[int]:
    return [
        caller.http.post(
            "/api/identity/token",
            json={"email": f"spray-{uuid.uuid4().hex[:8]}@example.com", "password": SPRAYED},
            headers=headers or {},
        ).status_code
        for _ in range(attempts)
    ]


def test_spraying_one_password_over_thirty_emails_from_one_address_is_throttled(
    caller: Caller,
) -> None:
    statuses = spray(caller, 30)
    assert set(statuses) == {401, 429}
    # The per-address login budget (20, slowly refilled), not 30 free guesses.
    assert statuses.index(429) <= 25


def test_x_forwarded_for_from_a_local_client_buys_no_fresh_login_budget(system: System) -> None:
    # From 127.0.0.1 itself: uvicorn's default trusted X-Forwarded-For from there.
    with connect(system, "127.0.0.1") as local:
        statuses = [
            spray(local, 1, headers={"X-Forwarded-For": f"198.51.100.{n}"})[0] for n in range(30)
        ]
    assert 429 in statuses


def test_wrong_passwords_from_many_addresses_lock_the_account(system: System) -> None:
    with connect(system) as owner:
        email = owner.register()
    statuses = []
    for _ in range(7):  # a fresh address each time: only the account's backoff can stop it
        with connect(system) as guesser:
            wrong = {"email": email, "password": f"guess-{uuid.uuid4().hex[:6]}"}
            statuses.append(guesser.http.post("/api/identity/token", json=wrong).status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[-1] == 429
    with connect(system) as owner:
        locked = owner.http.post("/api/identity/token", json={"email": email, "password": PASSWORD})
    assert is_problem(locked, 429)
    assert int(locked.headers["retry-after"]) >= 1


def test_an_unknown_email_gets_exactly_the_answer_of_a_wrong_password(caller: Caller) -> None:
    email = caller.register()
    wrong = caller.http.post("/api/identity/token", json={"email": email, "password": "nope-nope"})
    unknown = caller.http.post(
        "/api/identity/token",
        json={"email": f"ghost-{uuid.uuid4().hex[:8]}@example.com", "password": "nope-nope"},
    )
    assert is_problem(wrong, 401)
    assert is_problem(unknown, 401)
    assert wrong.json()["detail"] == unknown.json()["detail"]


@pytest.mark.parametrize("path", ["/api/identity/me", "/api/orders", "/api/cart"])
def test_forged_tokens_are_refused_everywhere(caller: Caller, path: str) -> None:
    for name, token in forged_tokens(SIGNING_KEY, kid_for(SIGNING_KEY)).items():
        response = caller.http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert is_problem(response, 401), (name, response.status_code)


def test_protected_routes_need_a_token(caller: Caller) -> None:
    for path in ("/api/identity/me", "/api/orders", "/api/cart", "/api/notifications"):
        assert is_problem(caller.http.get(path), 401), path
