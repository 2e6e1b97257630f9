"""What the `emporium` command imports before it does anything.

Every command pays for it, and `emporium up --detach` forks the launcher
from this process, so the launcher holds all of it for as long as the
system runs. httpx (only `trace` and `deadletters` use it) and cryptography
(only `up --tls`) are left to the commands that need them.
"""

from __future__ import annotations

import subprocess
import sys


def test_the_command_and_the_launcher_import_neither_httpx_nor_cryptography() -> None:
    script = (
        "import sys, emporium.cli, emporium.launcher.runner; "
        "print(sorted(m for m in ('httpx', 'cryptography') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
