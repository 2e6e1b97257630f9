"""The full schemathesis run behind ``make conformance``.

Starts a system (as the e2e tests do), then runs the schemathesis CLI against
the gateway's merged OpenAPI with every check and phase, once as a customer and
once as an admin, with ``schemathesis.toml``. Exits non-zero on any failure.

    python -m tests.contract.conformance [--max-examples 100] [--seed N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tests._system import running_system
from tests.e2e._shop import ADMIN, login, signed_in

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    failed = 0
    with running_system() as system:
        with system.client() as client:
            tokens = {"customer": signed_in(client), "admin": login(client, **ADMIN)}
        for role, headers in tokens.items():
            print(f"--- schemathesis as {role} against {system.gateway}", flush=True)
            command = [
                SCHEMATHESIS,
                "run",
                f"{system.gateway}/api/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(args.max_examples),
                "--generation-database",
                "none",
                "--header",
                f"Authorization: {headers['Authorization']}",
            ]
            if args.seed is not None:
                command += ["--seed", str(args.seed)]
            failed |= subprocess.run(command, cwd=ROOT, check=False).returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
