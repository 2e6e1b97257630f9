"""No secret a customer hands over is ever at rest in clear: not in a log, not in a
database, not in a broker message.

A real system (its own var dir and broker namespace) takes a login, a token
refresh, a failed login and a confirmed checkout through the gateway. Then every
file under the var dir (logs, SQLite databases and their WAL files, the
JetStream store) is read as bytes, and every message of the namespace's streams
is read back from NATS; none may contain the card number, the CVC, the password
(right or wrong) or any access or refresh token. What orders keeps to match an
Idempotency-Key is an HMAC: it contains none of these.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import nats
import pytest
from nats.js.errors import NotFoundError

from emporium.chassis.messaging._nats import stream_names
from tests._system import System, running_system
from tests.e2e._shop import ADDRESS, wait_for_status

pytestmark = pytest.mark.e2e

CARD = "4242424242424242"
CVC = "739"
# Three digits occur by chance in any file (timestamps, ids); the CVC is a leak
# where it stands as a value: "cvc": "739", cvc=739, 'cvc': '739'.
CVC_AS_VALUE = re.compile(rb"cvc\W{0,4}" + CVC.encode() + rb"\b", re.IGNORECASE)


@dataclass
class Secrets:
    password: str
    wrong_password: str
    tokens: list[str]
    order_id: str  # not a secret: proof that the scan reads what was stored

    def literals(self) -> dict[str, bytes]:
        found = {
            "card number": CARD.encode(),
            "password": self.password.encode(),
            "wrong password": self.wrong_password.encode(),
        }
        for index, token in enumerate(self.tokens):
            found[f"token {index}"] = token.encode()
        return found

    def leaks(self, data: bytes) -> list[str]:
        names = [name for name, value in self.literals().items() if value in data]
        if CVC_AS_VALUE.search(data):
            names.append("CVC")
        return names


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with running_system() as system:
        yield system


def _broker(system: System) -> tuple[str, str]:
    """The embedded NATS URL and this system's namespace."""
    state = json.loads((system.var_dir / "run" / "state").read_text())
    return state["summary"]["broker_url"], system.env["EMPORIUM_BROKER_NAMESPACE"]


def _shop(client: httpx.Client) -> Secrets:
    """Sign up, log in, refresh, fail a login, and buy: every secret goes through."""
    email = f"rest-{uuid.uuid4().hex[:12]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    wrong = f"wrong-{uuid.uuid4().hex}"
    created = client.post(
        "/api/identity/users", json={"email": email, "password": password, "name": "Rest"}
    )
    assert created.status_code == 201, created.text
    login = client.post("/api/identity/token", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    first = login.json()
    refreshed = client.post(
        "/api/identity/token/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    failed = client.post("/api/identity/token", json={"email": email, "password": wrong})
    assert failed.status_code == 401, failed.text
    user = {"Authorization": f"Bearer {second['access_token']}"}
    (product,) = client.get("/api/catalog/products?limit=1").json()["items"]
    added = client.put(f"/api/cart/items/{product['id']}", json={"quantity": 1}, headers=user)
    assert added.status_code == 200, added.text
    payment = {"number": CARD, "exp_month": 12, "exp_year": 2035, "cvc": CVC}
    placed = client.post(
        "/api/orders",
        json={"shipping_address": ADDRESS, "payment": payment},
        headers={**user, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert placed.status_code == 202, placed.text
    wait_for_status(client, user, placed.json()["id"], "CONFIRMED")
    tokens = [first["access_token"], first["refresh_token"]]
    tokens += [second["access_token"], second["refresh_token"]]
    return Secrets(password, wrong, tokens, placed.json()["id"])


async def _messages(url: str, namespace: str) -> list[bytes]:
    """Every message (body and headers) still in the namespace's streams."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        found: list[bytes] = []
        for stream in stream_names(namespace):
            state = (await js.stream_info(stream)).state
            if not state.messages:
                continue  # an empty stream (the dead letters, we hope) has no sequence 0
            for seq in range(state.first_seq, state.last_seq + 1):
                try:
                    message = await js.get_msg(stream, seq)
                except NotFoundError:
                    continue  # deleted or expired
                headers = json.dumps(message.headers or {}).encode()
                found.append((message.data or b"") + b"\n" + headers)
        return found
    finally:
        await client.close()


def test_no_card_number_cvc_password_or_token_is_at_rest_anywhere(system: System) -> None:
    with system.client() as client:
        secrets = _shop(client)
    time.sleep(2)  # the relays publish, the logs flush
    url, namespace = _broker(system)
    messages = asyncio.run(_messages(url, namespace))
    # The scan reads what the system stored: the order is in the messages and in
    # orders' database, the secrets that came with it are not.
    order = secrets.order_id.encode()
    assert any(order in message for message in messages), "the order's messages are missing"
    leaks = [
        f"message {index}: {', '.join(names)}"
        for index, message in enumerate(messages)
        if (names := secrets.leaks(message))
    ]
    files = [path for path in system.var_dir.rglob("*") if path.is_file()]
    scanned = {path.suffix for path in files}
    assert {".log", ".db"} <= scanned, f"no logs or databases under {system.var_dir}"
    stored = [path for path in files if path.name.startswith("orders.db")]
    assert any(order in path.read_bytes() for path in stored), "orders' store is not read"
    for path in files:
        names = secrets.leaks(path.read_bytes())
        if names:
            leaks.append(f"{path.relative_to(system.var_dir)}: {', '.join(names)}")
    assert not leaks, "secrets at rest:\n" + "\n".join(leaks)


def test_the_scan_finds_each_secret_where_it_is() -> None:
    # The scan itself must be able to fail: each secret, written as a log or a
    # message would carry it, is found.
    secrets = Secrets("pw-right", "pw-wrong", ["eyJ.access", "refresh-xyz"], str(uuid.uuid4()))
    samples = {
        "card number": f'{{"number": "{CARD}"}}',
        "CVC": f'{{"cvc": "{CVC}"}}',
        "password": "password=pw-right",
        "wrong password": "tried pw-wrong",
        "token 0": "Authorization: Bearer eyJ.access",
        "token 1": '{"refresh_token": "refresh-xyz"}',
    }
    for name, sample in samples.items():
        assert name in secrets.leaks(sample.encode()), name
    assert secrets.leaks(b'{"last4": "4242", "ts": 1739000000}') == []
