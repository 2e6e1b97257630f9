"""The embedded NATS server: free ports, JetStream, and no orphan left on its store."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from emporium.launcher.nats import EmbeddedNats, free_ports


def test_starts_on_a_free_port_never_4222(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        assert server.port != 4222
        assert server.url == f"nats://127.0.0.1:{server.port}"
    finally:
        server.stop()
    assert not server.pid_file.exists()


def test_a_server_left_by_a_crashed_launcher_is_stopped_before_a_new_one(tmp_path: Path) -> None:
    orphan = EmbeddedNats(tmp_path / "nats")
    orphan.start()
    assert orphan.process is not None
    orphan_pid = orphan.process.pid
    # The launcher dies without stopping it: the pid file stays behind.
    fresh = EmbeddedNats(tmp_path / "nats")
    fresh.start()
    try:
        assert orphan.process.wait(timeout=5) is not None
        assert fresh.process is not None
        assert fresh.process.pid != orphan_pid
        assert fresh.process.poll() is None
    finally:
        fresh.stop()
        if orphan.process.poll() is None:
            os.kill(orphan_pid, signal.SIGKILL)


def test_ports_picked_together_all_differ() -> None:
    """The broker's two listeners take two of these, so they never collide."""
    assert len(set(free_ports(64))) == 64
