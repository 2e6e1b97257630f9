"""The audit (and the seed) wait out an instance that is briefly restarting."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web

from emporium.audit.collect import AuditError, request_json

Answer = Callable[[], web.Response]


async def _server(answers: list[Answer]) -> tuple[web.AppRunner, str]:
    """Answers in turn, the last one for ever (a response is made fresh each time)."""

    async def handler(_request: web.Request) -> web.Response:
        return (answers.pop(0) if len(answers) > 1 else answers[0])()

    app = web.Application()
    app.router.add_get("/thing", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/thing"


def _busy() -> web.Response:
    return web.json_response({"title": "restarting"}, status=503, headers={"Retry-After": "1"})


def _ok() -> web.Response:
    return web.json_response({"ok": True})


def _forbidden() -> web.Response:
    return web.json_response({"title": "no"}, status=403)


async def test_a_503_with_retry_after_is_retried_until_the_instance_answers() -> None:
    runner, url = await _server([_busy, _busy, _ok])
    try:
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            assert await request_json(session, "GET", url) == {"ok": True}
        assert time.monotonic() - started >= 2, "Retry-After was not honoured"
    finally:
        await runner.cleanup()


async def test_an_instance_busy_past_the_bound_is_an_error_not_a_hang() -> None:
    runner, url = await _server([_busy])
    try:
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            with pytest.raises(AuditError, match="503"):
                await request_json(session, "GET", url, retry_for=2.5)
        assert time.monotonic() - started < 5
    finally:
        await runner.cleanup()


async def test_a_client_error_is_not_retried() -> None:
    runner, url = await _server([_forbidden])
    try:
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            with pytest.raises(AuditError, match="403"):
                await request_json(session, "GET", url)
        assert time.monotonic() - started < 1
    finally:
        await runner.cleanup()
