"""Browser tests: Debian's chromium, driven by Playwright, against the whole system.

One Emporium per test session, started with the real launcher as tests/e2e
does. Chromium is the system one
(``apt-get install chromium``; ``playwright install`` is never used): without
it the tests skip loudly, or fail under ``EMPORIUM_REQUIRE_SERVICES=1``.

Every page a test visits can be saved at 360 px and 1280 px wide with
``shots(page, name)``; the folder is printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests._system import System, running_system
from tests.browser._shopper import ARTIFACTS

CHROMIUM = os.environ.get("EMPORIUM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

Shots = Callable[[Page, str], None]


def _require_chromium() -> str:
    if Path(CHROMIUM).is_file() or shutil.which(CHROMIUM):
        return CHROMIUM
    message = f"chromium is not installed at {CHROMIUM}: apt-get install -y chromium"
    if os.environ.get("EMPORIUM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"EMPORIUM_REQUIRE_SERVICES=1 and {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}")


@pytest.fixture(scope="package")
def shop() -> Iterator[System]:
    """The whole Emporium, web shop included, for every browser test."""
    _require_chromium()
    reuse = os.environ.get("EMPORIUM_BROWSER_SYSTEM")
    if reuse:
        # While writing tests: a system already up ("VAR_DIR:GATEWAY_PORT"), kept after.
        var_dir, _, port = reuse.rpartition(":")
        yield System(Path(var_dir), int(port), dict(os.environ))
        return
    with running_system() as system:
        yield system


# Package scope, not session: playwright's sync API keeps an event loop running
# in the main thread while it lives, and every async test after it would fail.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=_require_chromium(), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser, shop: System) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at desktop width, pointed at the gateway."""
    ctx = browser.new_context(base_url=shop.gateway, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab whose script errors (a CSP violation included) fail the test that saw them."""
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    yield opened
    # A refused resource (a 403 page on purpose, say) is logged as a console
    # error too; only script and CSP errors count.
    real = [e for e in errors if "Failed to load resource" not in e]
    assert not real, f"errors in the browser console: {real}"


@pytest.fixture(scope="package")
def shots() -> Shots:
    """``shots(page, "product")`` saves the page at 360 px and 1280 px wide."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> None:
        size = page.viewport_size or {"width": 1280, "height": 900}
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 800 if width == 360 else 900})
            page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size(size)

    return take


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ARTIFACTS.exists() and any(ARTIFACTS.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.2)
