"""The Emporium image, built for real, on a base this machine makes itself.

No image registry is reachable here, so the base (``python:3.11-slim``'s role)
is made with ``debootstrap --variant=minbase bookworm`` plus python3,
python3-venv, python-is-python3 and ca-certificates, the machine's CA bundle
copied in (package downloads go through an intercepting proxy), and
``docker import``-ed. It is cached under :data:`BASE_TAG`: made once, reused
until removed. The image itself is built from the repository's Dockerfile with
``--build-arg PYTHON_IMAGE=<base>``, once per test session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["BASE_TAG", "IMAGE_TAG", "DockerUnavailableError", "build_image", "docker"]

ROOT = Path(__file__).resolve().parent.parent
BASE_TAG = "emporium-test-base:bookworm"
IMAGE_TAG = "emporium:test"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PACKAGES = "python3,python3-venv,python-is-python3,ca-certificates"


class DockerUnavailableError(RuntimeError):
    """No Docker daemon answers (or debootstrap is missing); the message says why."""


def docker(
    *args: str, timeout: float = 120, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the docker client; ``env`` adds variables that ``--env=NAME`` passes on
    (so a multi-line PEM never goes through an argument or a file)."""
    result = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _require_docker() -> None:
    if shutil.which("docker") is None:
        raise DockerUnavailableError("no docker client (apt-get install docker.io)")
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except subprocess.TimeoutExpired:
        raise DockerUnavailableError("docker info timed out") from None
    if info.returncode != 0:
        raise DockerUnavailableError(
            "no Docker daemon answers (start `dockerd --bridge=none --iptables=false`): "
            + info.stderr.strip()
        )


def _ensure_base() -> None:
    if docker("image", "inspect", BASE_TAG, check=False).returncode == 0:
        return
    if shutil.which("debootstrap") is None:
        raise DockerUnavailableError("no debootstrap (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="emporium-base-") as work:
        root = Path(work) / "root"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(root)],
            check=True,
            capture_output=True,
            timeout=900,
        )
        if CA_BUNDLE.exists():
            shutil.copy(CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / cache, ignore_errors=True)
        # The with block closes tar's pipe too (an unclosed one is a ResourceWarning).
        with subprocess.Popen(
            ["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        ) as tar:
            imported = subprocess.run(
                [
                    "docker",
                    "import",
                    # pip inside the build trusts the machine's CA (the proxy) through these.
                    "--change",
                    "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                    "--change",
                    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                    "--change",
                    'CMD ["python3"]',
                    "-",
                    BASE_TAG,
                ],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        if imported.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr}")


def build_image() -> str:
    """Build (or reuse from Docker's cache) the image; return its tag."""
    _require_docker()
    _ensure_base()
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    result = subprocess.run(
        [
            "docker",
            "build",
            "--network",
            "host",
            "--build-arg",
            f"PYTHON_IMAGE={BASE_TAG}",
            "-t",
            IMAGE_TAG,
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"docker build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return IMAGE_TAG
