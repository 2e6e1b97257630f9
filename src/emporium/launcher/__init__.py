"""The local orchestrator behind ``emporium up``.

:class:`Launcher` starts the broker, runs the pre-start steps, supervises every
instance of the services in a :class:`ServiceTable`, keeps the gateway's
registry file current and serves a control API on ``var/run/launcher.sock``.
"""

from emporium.launcher._lock import AlreadyRunningError, running_pid
from emporium.launcher.backoff import RestartBackoff
from emporium.launcher.control import ControlClient, NotRunningError
from emporium.launcher.runner import Launcher, LaunchError, read_state, resolve_table
from emporium.launcher.settings import LauncherSettings, VarLayout
from emporium.launcher.specs import (
    DEFAULT_TABLE,
    PreStartStep,
    ReplicaError,
    ServiceSpec,
    ServiceTable,
    parse_replicas,
    parse_scale,
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
