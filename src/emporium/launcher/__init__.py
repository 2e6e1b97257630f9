"""The local orchestrator behind ``emporium up``.

:class:`Launcher` starts the broker, runs the pre-start steps, supervises every
instance of the services in a :class:`ServiceTable`, keeps the gateway's
registry file current and serves a control API on ``var/run/launcher.sock``.

The names below are imported on first use (PEP 562): ``emporium up`` needs
the settings and the service table before anything else, and every command
that only reads the var directory should not pay for the control server's
and the supervisor's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emporium._lazy import exports_of, lazy

if TYPE_CHECKING:
    from emporium.launcher._lock import AlreadyRunningError, running_pid
    from emporium.launcher.backoff import RestartBackoff
    from emporium.launcher.control import ControlClient, NotRunningError
    from emporium.launcher.runner import Launcher, LaunchError
    from emporium.launcher.settings import LauncherSettings, VarLayout, read_state
    from emporium.launcher.specs import (
        DEFAULT_TABLE,
        PreStartStep,
        ReplicaError,
        ServiceSpec,
        ServiceTable,
        parse_replicas,
        parse_scale,
        resolve_table,
    )

__getattr__ = lazy(
    __name__,
    {
        **exports_of("emporium.launcher._lock", ["AlreadyRunningError", "running_pid"]),
        **exports_of("emporium.launcher.backoff", ["RestartBackoff"]),
        **exports_of("emporium.launcher.control", ["ControlClient", "NotRunningError"]),
        **exports_of("emporium.launcher.runner", ["Launcher", "LaunchError"]),
        **exports_of("emporium.launcher.settings", ["LauncherSettings", "VarLayout", "read_state"]),
        **exports_of(
            "emporium.launcher.specs",
            [
                "DEFAULT_TABLE",
                "PreStartStep",
                "ReplicaError",
                "ServiceSpec",
                "ServiceTable",
                "parse_replicas",
                "parse_scale",
                "resolve_table",
            ],
        ),
    },
)

__all__ = [
    "DEFAULT_TABLE",
    "AlreadyRunningError",
    "ControlClient",
    "LaunchError",
    "Launcher",
    "LauncherSettings",
    "NotRunningError",
    "PreStartStep",
    "ReplicaError",
    "RestartBackoff",
    "ServiceSpec",
    "ServiceTable",
    "VarLayout",
    "parse_replicas",
    "parse_scale",
    "read_state",
    "resolve_table",
    "running_pid",
]
