"""What the catalog's routes take from the running service."""

from __future__ import annotations

from fastapi import Request

from emporium.chassis import Database, Runtime
from emporium.chassis.messaging import Outbox
from emporium.services.catalog.read_model import ReadModel


def database(request: Request) -> Database:
    db: Database = request.app.state.runtime.db
    return db


def outbox(request: Request) -> Outbox:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(Outbox)


def read_model(request: Request) -> ReadModel:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(ReadModel)
