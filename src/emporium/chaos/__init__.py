"""``emporium chaos``: load the shop while faults are injected through the
launcher's control API, then wait for quiet and audit the invariants."""

from emporium.chaos.plan import (
    Fault,
    FaultKind,
    PlanError,
    errors_in_window,
    plan_faults,
    traffic_elsewhere,
)

__all__ = [
    "Fault",
    "FaultKind",
    "PlanError",
    "errors_in_window",
    "plan_faults",
    "traffic_elsewhere",
]
