"""Files under var/ that hold secrets are owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

from emporium.launcher.secrets import write_private


def test_a_private_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state"
    write_private(path, "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "{}"
