"""What the catalog's routes take from the running service."""

from __future__ import annotations

from fastapi import Request

from emporium.chassis import Database
from emporium.chassis.messaging import Messaging, Outbox


def database(request: Request) -> Database:
    db: Database = request.app.state.runtime.db
    return db


def outbox(request: Request) -> Outbox:
    messaging: Messaging = request.app.state.runtime.components["broker"]
    return messaging.outbox
