"""``emporium chaos``: load the shop while faults are injected through the
launcher's control API, then wait for quiet and audit the invariants."""

from emporium.chaos.plan import (
    Fault,
    FaultKind,
    Injection,
    PlanError,
    parse_errors,
    parse_latency,
    plan_faults,
)
from emporium.chaos.windows import errors_in_window, judge, traffic_elsewhere

__all__ = [
    "Fault",
    "FaultKind",
    "Injection",
    "PlanError",
    "errors_in_window",
    "judge",
    "parse_errors",
    "parse_latency",
    "plan_faults",
    "traffic_elsewhere",
]
