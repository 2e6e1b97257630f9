"""The unit tier does no I/O: no sockets, no subprocesses, no SQLite, no files.

Every test under ``tests/unit`` runs with those doors shut, so a test that needs a
real store, server, process or directory fails here at once, naming the door,
instead of quietly slowing the tier down. Such a test belongs in
``tests/integration``, or on a fake (``httpx.MockTransport``, the chassis fakes).
In-process ASGI apps (``httpx.ASGITransport``) are not I/O and stay allowed.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest


class UnitTestDidIO(AssertionError):
    """A unit test tried to open a socket, start a process, or use SQLite or files."""


def _refuse(door: str) -> object:
    def refuse(*_args: object, **_kwargs: object) -> NoReturn:
        raise UnitTestDidIO(
            f"tests/unit does no I/O, and this test used {door}: "
            "move it to tests/integration or give it a fake"
        )

    return refuse


@pytest.fixture(scope="package", autouse=True)
def no_io() -> Iterator[None]:
    # Package scope: shut before any fixture of the tier (module-scoped ones too)
    # and opened again before the next tier runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse("a socket connect"))
        patch.setattr(socket.socket, "connect_ex", _refuse("a socket connect"))
        patch.setattr(socket.socket, "bind", _refuse("a socket bind"))
        patch.setattr(subprocess.Popen, "__init__", _refuse("a subprocess"))
        patch.setattr(sqlite3, "connect", _refuse("SQLite"))
        patch.setattr(sqlite3.dbapi2, "connect", _refuse("SQLite"))  # SQLAlchemy's path
        yield


@pytest.fixture
def tmp_path() -> Path:
    """Refused here: a unit test that needs a directory is an integration test."""
    raise UnitTestDidIO(
        "tests/unit does no I/O, and this test asked for tmp_path: move it to tests/integration"
    )
