"""What every Emporium service shares: the microservice chassis.

A service's ``main.py`` calls :func:`create_service` with its settings, routers,
tables, message handlers and components; everything else (logs, errors, health,
metrics, database and unit of work, messaging, outbound HTTP, auth) lives here,
once.
"""

from emporium.chassis import deadline
from emporium.chassis.app import Component, HandlerTable, Runtime, create_service, provided, serve
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
