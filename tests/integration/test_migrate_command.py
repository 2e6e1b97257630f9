"""``emporium migrate``: every store to head, one service back to empty and up again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EMPORIUM = str(Path(sys.executable).parent / "emporium")


def _migrate(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EMPORIUM, "migrate", *args, "--var-dir", str(var_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_brings_every_store_to_head_and_back_down_on_request(tmp_path: Path) -> None:
    first = _migrate(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "orders           empty -> 0002" in first.stdout
    assert "identity         empty -> 0001" in first.stdout  # no inbox, no 0002
    assert len(first.stdout.splitlines()) == 9

    down = _migrate(tmp_path, "catalog", "--to", "base")
    assert down.returncode == 0, down.stderr
    assert down.stdout.split() == ["catalog", "0002", "->", "empty"]

    again = _migrate(tmp_path, "catalog")
    assert again.stdout.split() == ["catalog", "empty", "->", "0002"]


def test_migrate_refuses_a_service_without_a_store(tmp_path: Path) -> None:
    result = _migrate(tmp_path, "gateway")
    assert result.returncode == 2
    assert "has no store" in result.stderr
