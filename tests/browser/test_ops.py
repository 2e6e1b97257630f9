"""The ops page: admins see every instance, a saga's timeline and its trace; customers get 403."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from emporium.contracts import message_types
from tests._system import System
from tests.browser._shopper import ADMIN, sign_in, sign_up
from tests.browser.conftest import Shots
from tests.e2e._shop import add_to_cart, checkout, product_at, signed_in, wait_for_status

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def confirmed_order(shop: System) -> Iterator[dict[str, Any]]:
    with shop.client() as client:
        user = signed_in(client)
        add_to_cart(client, user, product_at(client, 5), quantity=1)
        order = checkout(client, user)
        wait_for_status(client, user, order["id"], "CONFIRMED", within=30)
        yield order


def test_an_admin_sees_every_instance_a_saga_timeline_and_its_trace(
    page: Page, shop: System, confirmed_order: dict[str, Any], shots: Shots
) -> None:
    sign_in(page, *ADMIN)
    page.goto("/admin/ops")
    routed = {i["instance"] for i in shop.status() if i["service"] != "gateway"}
    rows = page.get_by_test_id("ops-instance")
    expect(rows).to_have_count(len(routed))
    shown = {rows.nth(n).get_attribute("data-instance") for n in range(rows.count())}
    assert shown == routed
    expect(page.get_by_test_id("broker-health")).to_contain_text("every consumer connected")
    expect(page.locator("svg.chart").first).to_be_visible()
    shots(page, "admin-ops")

    saga = page.get_by_test_id("saga").filter(has_text=confirmed_order["id"][:8])
    saga.get_by_test_id("saga-timeline").locator("summary").click()
    # PENDING, CONFIRMED, and SHIPPED once shipping's dispatcher ran (3 s later).
    expect(saga.get_by_test_id("saga-timeline")).to_contain_text("CONFIRMED")
    assert saga.locator("svg.saga circle").count() in (2, 3)

    saga.get_by_test_id("saga-trace").click()
    expect(page.get_by_test_id("trace-waterfall")).to_be_visible()
    spans = page.get_by_test_id("trace-span")
    expect(spans.first).to_be_visible()
    assert spans.count() >= 10
    expect(page.get_by_test_id("trace-waterfall")).to_contain_text("process ReserveStock")
    shots(page, "admin-trace")


def test_a_customer_gets_403_on_the_ops_page_and_its_trace_view(page: Page) -> None:
    sign_up(page)
    for path in ("/admin/ops", "/admin/ops/live", "/admin/ops/trace/abc"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 403, path


def test_the_api_docs_page_renders_swagger_ui_from_the_gateway_alone(
    page: Page, shop: System
) -> None:
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(shop.gateway) else None,
    )
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=20_000)
    expect(page.locator(".swagger-ui")).to_contain_text("/api/orders")
    assert refused == []
    assert [url for url in outside if not url.startswith("data:")] == []


def test_the_asyncapi_page_and_document_list_every_message(page: Page) -> None:
    document = page.request.get("/api/asyncapi.json").json()
    assert set(document["channels"]) == set(message_types())
    page.goto("/api/asyncapi")
    expect(page.locator("section#ReserveStock")).to_contain_text("emporium.inventory.ReserveStock")
    expect(page.locator("section#ReserveStock")).to_contain_text("producer orders")


def test_an_instance_killed_and_restarted_by_the_launcher_shows_its_restart_count(
    page: Page, shop: System
) -> None:
    [victim] = shop.instances("notifications")[:1]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        [now] = [i for i in shop.instances("notifications") if i["instance"] == victim["instance"]]
        if now["restarts"] >= 1 and now["state"] == "ready":
            break
        assert time.monotonic() < deadline, f"not restarted: {now}"
        time.sleep(0.5)
    sign_in(page, *ADMIN)
    row = page.locator(f'[data-testid="ops-instance"][data-instance="{victim["instance"]}"]')
    shown = ""
    for _ in range(20):  # the gateway reads the new registry within a second or two
        page.goto("/admin/ops")
        shown = row.get_by_test_id("ops-restarts").inner_text() if row.count() else ""
        if shown.isdigit() and int(shown) >= 1:
            break
        time.sleep(0.5)
    assert shown.isdigit(), shown
    assert int(shown) >= 1
