"""A production profile on the machine's servers, made for one test and removed after.

:func:`production_env` creates a database per service (PostgreSQL, MariaDB for
shipping), a Redis key prefix, a broker namespace and every secret the prod
profile requires, yields the ``EMPORIUM_*`` environment that runs Emporium on
them, then drops the databases, the Redis keys and the namespace's streams,
queues and exchanges.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emporium.chassis.messaging._nats import stream_names
from tests._servers import (
    MARIADB_URL,
    POSTGRES_URL,
    RABBITMQ_URL,
    REDIS_URL,
    fresh_database,
    require_server,
)

__all__ = ["ADMIN_PASSWORD", "NATS_URL", "SQL_STORES", "production_env", "secret_env"]

NATS_URL = "nats://127.0.0.1:4222"
ADMIN_PASSWORD = "a production admin passphrase"
# Which engine each SQL store is on in production (README, "What is here").
SQL_STORES = {
    "identity": "postgresql",
    "catalog": "postgresql",
    "inventory": "postgresql",
    "cart": "postgresql",
    "payments": "postgresql",
    "shipping": "mariadb",
    "notifications": "postgresql",
    "orders": "postgresql",
    "recommendations": "postgresql",
}


def secret_env() -> dict[str, str]:
    """Every secret the prod profile refuses to start without, freshly made."""
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "EMPORIUM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "EMPORIUM_IDENTITY_SIGNING_KEY": key.decode(),
        "EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "EMPORIUM_STOREFRONT_SESSION_KEY": secrets.token_urlsafe(32),
        "EMPORIUM_ORDERS_REQUEST_HASH_KEY": secrets.token_urlsafe(32),
    }


def broker_url(broker: str) -> str:
    if broker == "nats":
        return require_server(NATS_URL, "NATS (JetStream)")
    return require_server(RABBITMQ_URL, "RabbitMQ")


@contextmanager
def production_env(broker: str) -> Iterator[dict[str, str]]:
    """The environment of a production Emporium on this machine's servers."""
    url = broker_url(broker)
    servers = {
        "postgresql": require_server(POSTGRES_URL, "PostgreSQL"),
        "mariadb": require_server(MARIADB_URL, "MariaDB"),
    }
    redis = require_server(REDIS_URL, "Redis")
    tag = uuid.uuid4().hex[:10]
    namespace, prefix = f"prod{tag}", f"prod{tag}"
    env = {
        "EMPORIUM_PROFILE": "prod",
        "EMPORIUM_BROKER_URL": url,
        "EMPORIUM_BROKER_NAMESPACE": namespace,
        "EMPORIUM_CART_REDIS_URL": redis,
        "EMPORIUM_CART_REDIS_PREFIX": f"{prefix}:cart",
        "EMPORIUM_RECOMMENDATIONS_REDIS_URL": redis,
        "EMPORIUM_RECOMMENDATIONS_REDIS_PREFIX": f"{prefix}:recommendations",
        "EMPORIUM_GATEWAY_REDIS_URL": redis,
        "EMPORIUM_GATEWAY_REDIS_PREFIX": f"{prefix}:ratelimit:",
        **secret_env(),
    }
    with ExitStack() as stack:
        for service, engine in SQL_STORES.items():
            database = stack.enter_context(fresh_database(servers[engine], prefix=service[:4]))
            env[f"EMPORIUM_{service.upper()}_DATABASE_URL"] = database
        try:
            yield env
        finally:
            asyncio.run(_drop_redis(redis, prefix))
            if broker == "nats":
                asyncio.run(_drop_nats(url, namespace))
            else:
                asyncio.run(_drop_rabbit(url, namespace))


async def _drop_redis(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _drop_nats(url: str, namespace: str) -> None:
    import nats

    client = await nats.connect(url)
    try:
        stream = client.jetstream()
        for name in stream_names(namespace):
            try:
                await stream.delete_stream(name)
            except Exception as error:  # not made: nothing to drop
                if "not found" not in str(error).lower():
                    raise
    finally:
        await client.close()


def _rabbit_names(kind: str, namespace: str) -> list[str]:
    listed = subprocess.run(
        ["rabbitmqctl", f"list_{kind}", "name", "--quiet", "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return [
        n.strip()
        for n in listed.stdout.splitlines()
        if n.strip() == namespace or n.strip().startswith(f"{namespace}.")
    ]


async def _drop_rabbit(url: str, namespace: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for queue in _rabbit_names("queues", namespace):
            await channel.queue_delete(queue)
        for exchange in _rabbit_names("exchanges", namespace):
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()
