"""Run real services in-process (real store, real broker) for integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from emporium.chassis import ChassisSettings


def chassis_settings(var_dir: Path, broker_url: str, namespace: str) -> ChassisSettings:
    return ChassisSettings(var_dir=var_dir, broker_url=broker_url, broker_namespace=namespace)


def unique_namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def running(
    create_app: Callable[[ChassisSettings], FastAPI], settings: ChassisSettings
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (store, broker, relay, consumers) and give a client for it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client
