"""Tokenization is the only place a card number is seen: it is answered with a
token and refused with a 422 problem, and the number and CVC end up nowhere —
not in a response, not in the JSON log stream, not in the SQLite file."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Database
from emporium.chassis.testing import TokenFactory
from emporium.launcher.nats import EmbeddedNats
from emporium.services.payments.main import create_app
from emporium.services.payments.settings import PaymentsSettings
from tests.integration._services import running, unique_namespace

NUMBER, CVC = "5105105105105100", "7391"
BAD_LUHN = "5105105105105101"
SECRETS = (NUMBER, BAD_LUHN)
REFUSED = [
    ({"number": BAD_LUHN, "exp_month": 1, "exp_year": 2099, "cvc": "739"}, "number"),
    ({"number": NUMBER, "exp_month": 1, "exp_year": 2001, "cvc": "739"}, "exp_year"),
    ({"number": NUMBER, "exp_month": 1, "exp_year": 2099, "cvc": CVC}, "cvc"),
    ({"number": NUMBER, "exp_month": 1, "exp_year": 2099, "cvc": "7a9"}, "cvc"),
]


def _values(text: str) -> list[str]:
    """Every scalar value in the JSON log lines (and any non-JSON line whole)."""
    found: list[str] = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            found.append(line)
            continue
        found.extend(str(value) for value in record.values())
    return found


async def test_card_number_and_cvc_appear_in_no_response_log_or_database_byte(
    tmp_path: Path, embedded_nats: EmbeddedNats
) -> None:
    tokens, user = TokenFactory(), uuid.uuid4()
    var_dir = tmp_path / "var"
    settings = ChassisSettings(
        var_dir=var_dir,
        broker_url=embedded_nats.url,
        broker_namespace=unique_namespace(),
        log_level="DEBUG",  # the most the service ever says
    )

    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level

    def create(chassis: ChassisSettings) -> FastAPI:
        app = create_app(chassis, PaymentsSettings(), auth=tokens.verifier())
        # The chassis has just pointed the root logger at stderr: read that stream here.
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)
        return app

    try:
        async with running(create, settings) as client:
            await _tokenize_and_refuse(client, tokens, user)
    finally:
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stderr)
        root.setLevel(level)

    logs = stream.getvalue()
    assert "card tokenized" in logs  # the stream was captured
    assert not any(s in logs for s in SECRETS)
    assert not {CVC, "739"} & set(_values(logs))

    files = sorted((var_dir / "data").glob("payments.db*"))
    assert files
    for file in files:
        assert not any(s.encode() in file.read_bytes() for s in SECRETS), file.name
    await _assert_no_column_holds_a_secret(var_dir / "data" / "payments.db")


async def _tokenize_and_refuse(
    client: httpx.AsyncClient, tokens: TokenFactory, user: uuid.UUID
) -> None:
    card = {"number": NUMBER, "exp_month": 1, "exp_year": 2099, "cvc": "739"}
    anonymous = await client.post("/api/payments/cards", json=card)
    assert anonymous.status_code == 401

    created = await client.post("/api/payments/cards", json=card, headers=tokens.headers(user))
    assert created.status_code == 201
    body = created.json()
    assert body.keys() == {"card_token", "brand", "last4", "exp_month", "exp_year"}
    assert (body["brand"], body["last4"]) == ("mastercard", "5100")
    assert body["card_token"].startswith("tok_")
    assert len(body["card_token"]) >= 32

    for bad, field in REFUSED:
        refused = await client.post("/api/payments/cards", json=bad, headers=tokens.headers(user))
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["loc"] == ["body", field]
        assert not any(s in refused.text for s in SECRETS)
        # The CVC is echoed nowhere. The request id is random hex and holds "739"
        # by chance (four ids of 32 digits: about one run in 35), so it is left out.
        answered = {key: value for key, value in refused.json().items() if key != "request_id"}
        assert "739" not in json.dumps(answered)


async def _assert_no_column_holds_a_secret(path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with database.session() as session:
            tables = (await session.execute(sa.text("SELECT name FROM sqlite_master"))).scalars()
            for table in [t for t in tables.all() if t.startswith(("payments_", "outbox"))]:
                for row in (await session.execute(sa.text(f'SELECT * FROM "{table}"'))).all():
                    assert not {"739", CVC, *SECRETS} & {str(v) for v in row}, table
    finally:
        await database.dispose()
