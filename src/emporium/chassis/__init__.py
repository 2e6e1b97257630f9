"""What every Emporium service shares: the microservice chassis.

A service's ``main.py`` calls :func:`create_service` with its routers, store and
message handlers; everything else (settings, logs, errors, health, metrics,
database, messaging, outbound HTTP) lives here, once.
"""

from emporium.chassis.app import Component, Runtime, create_service, serve
from emporium.chassis.db import Base, Database, UnitOfWork
from emporium.chassis.problems import Problem
from emporium.chassis.settings import ChassisSettings, ServiceSettings

__all__ = [
    "Base",
    "ChassisSettings",
    "Component",
    "Database",
    "Problem",
    "Runtime",
    "ServiceSettings",
    "UnitOfWork",
    "create_service",
    "serve",
]
