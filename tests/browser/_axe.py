"""axe-core, fetched once from the npm registry into ``tests/browser/.cache``.

Not committed (MPL-2.0, ~550 KB): ``npm pack axe-core@VERSION`` on first use,
then reused. Without npm or the registry the accessibility tests skip loudly,
or fail under ``EMPORIUM_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

__all__ = ["AXE_VERSION", "axe_script", "serious_violations"]

AXE_VERSION = "4.14.1"
CACHE = Path(__file__).parent / ".cache"


def _unavailable(message: str) -> None:
    if os.environ.get("EMPORIUM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"EMPORIUM_REQUIRE_SERVICES=1 and {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def axe_script() -> str:
    script = CACHE / f"axe-{AXE_VERSION}.min.js"
    if script.is_file():
        return script.read_text()
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed, so axe-core cannot be fetched")
        raise AssertionError("unreachable")
    CACHE.mkdir(exist_ok=True)
    packed = subprocess.run(
        [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(CACHE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    tarball = CACHE / f"axe-core-{AXE_VERSION}.tgz"
    if packed.returncode != 0 or not tarball.is_file():
        _unavailable(f"npm pack axe-core@{AXE_VERSION} failed: {packed.stderr.strip()[-300:]}")
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/axe.min.js")
        assert member is not None
        script.write_bytes(member.read())
    tarball.unlink()
    return script.read_text()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical findings on the page as it is now (WCAG 2.1 A and AA)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the page's CSP (rightly) refuses a
        # <script> tag with inline code, and does not apply to this.
        page.evaluate(axe_script())
    result: dict[str, Any] = page.evaluate(
        """async () => await window.axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}
        })"""
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [node["target"] for node in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
