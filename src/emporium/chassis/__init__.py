"""What every Emporium service shares: the microservice chassis.

A service's ``main.py`` calls :func:`create_service` with its settings, routers,
tables, message handlers and components; everything else (logs, errors, health,
metrics, database and unit of work, messaging, outbound HTTP, auth) lives here,
once.

The names below are imported on first use (PEP 562), not with the package:
the command line and the launcher use small parts of the chassis (its
settings, its backoff) and should not pay a second of importing FastAPI and
SQLAlchemy for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emporium._lazy import exports_of, lazy

if TYPE_CHECKING:
    from emporium.chassis import deadline
    from emporium.chassis.app import (
        Component,
        HandlerTable,
        Runtime,
        create_service,
        provided,
        serve,
    )
    from emporium.chassis.clock import Clock, utcnow
    from emporium.chassis.db import (
        Base,
        Database,
        Publisher,
        UnitOfWork,
        service_metadata,
        transactionally,
    )
    from emporium.chassis.problems import Problem
    from emporium.chassis.settings import ChassisSettings, ServiceSettings

__getattr__ = lazy(
    __name__,
    {
        "deadline": "emporium.chassis.deadline",
        **exports_of(
            "emporium.chassis.app",
            ["Component", "HandlerTable", "Runtime", "create_service", "provided", "serve"],
        ),
        **exports_of("emporium.chassis.clock", ["Clock", "utcnow"]),
        **exports_of(
            "emporium.chassis.db",
            ["Base", "Database", "Publisher", "UnitOfWork", "service_metadata", "transactionally"],
        ),
        "Problem": "emporium.chassis.problems",
        **exports_of("emporium.chassis.settings", ["ChassisSettings", "ServiceSettings"]),
    },
)

__all__ = [
    "Base",
    "ChassisSettings",
    "Clock",
    "Component",
    "Database",
    "HandlerTable",
    "Problem",
    "Publisher",
    "Runtime",
    "ServiceSettings",
    "UnitOfWork",
    "create_service",
    "deadline",
    "provided",
    "serve",
    "service_metadata",
    "transactionally",
    "utcnow",
]
