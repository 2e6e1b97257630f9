"""A stand-in service for the launcher's tests, honouring the process contract.

``python -m tests.integration._dummy_service`` serves ``/health/live``,
``/health/ready``, ``/whoami`` (the contract's variables) and ``/environ`` (every
variable it sees) on ``EMPORIUM_PORT`` and exits on SIGTERM;
with the argument ``seed`` it is a pre-start step that succeeds, with ``fail``
one that fails. :data:`SERVICES` and :data:`FAILING_SEED` are tables to inject.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from emporium.launcher.specs import PreStartStep, ServiceSpec, ServiceTable

MODULE = "tests.integration._dummy_service"

SERVICES = ServiceTable(
    services=(
        ServiceSpec("alpha", MODULE, default_replicas=2),
        ServiceSpec("beta", MODULE),
        ServiceSpec("gateway", MODULE, gateway=True),
    ),
    pre_start=(PreStartStep("seed", MODULE, args=("seed",)),),
)
FAILING_SEED = ServiceTable(
    services=SERVICES.services, pre_start=(PreStartStep("seed", MODULE, args=("fail",)),)
)
CONTRACT_VARIABLES = (
    "EMPORIUM_HOST",
    "EMPORIUM_PORT",
    "EMPORIUM_INSTANCE",
    "EMPORIUM_BROKER_URL",
    "EMPORIUM_VAR_DIR",
    "EMPORIUM_PROFILE",
    "EMPORIUM_GATEWAY_REGISTRY",
)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path in ("/health/live", "/health/ready"):
            body = {"status": "ok"}
        elif self.path == "/whoami":
            body = {name: os.environ.get(name, "") for name in CONTRACT_VARIABLES}
        elif self.path == "/environ":
            body = dict(os.environ)
        else:
            self.send_error(404)
            return
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the launcher's readiness probes would flood the logs


def serve() -> None:
    server = ThreadingHTTPServer(
        (os.environ.get("EMPORIUM_HOST", "127.0.0.1"), int(os.environ["EMPORIUM_PORT"])), Handler
    )

    def drain(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, drain)
    print(f"{os.environ['EMPORIUM_INSTANCE']} listening", flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    print(f"{os.environ['EMPORIUM_INSTANCE']} drained", flush=True)


def main(arguments: list[str]) -> int:
    if arguments == ["seed"]:
        data = Path(os.environ["EMPORIUM_VAR_DIR"]) / "data"
        data.mkdir(parents=True, exist_ok=True)
        (data / "seeded").write_text(os.environ["EMPORIUM_BROKER_URL"])
        print("seeded", flush=True)
        return 0
    if arguments == ["gc"]:  # what a forked child inherits of the collector
        print(f"gc enabled: {gc.isenabled()}", flush=True)
        print(f"full collections: {gc.get_stats()[2]['collections']}", flush=True)
        return 0
    if arguments == ["fail"]:
        print("seed broke: the catalog is on fire", flush=True)
        return 3
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
