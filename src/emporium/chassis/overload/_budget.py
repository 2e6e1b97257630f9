"""Budgets a service reports so that a gateway can refuse on its behalf (decision 0021).

Some services admit work against a budget of their own that no latency-driven
limit can see: orders admits a checkout only while the running sagas leave it
time to finish. Such a refusal still costs a hop to a busy service, and the
refusal waits on that service's event loop behind the work that made it busy.
So a service may *report* the budget:

- every refusal it makes against the budget is a 503 carrying :data:`BUDGET`;
- ``GET`` :data:`BUDGET_PATH` answers what is left, per route, as
  ``{"POST /api/orders": {"free": 3, "retry_after": 1}}``.

A gateway that sees the marker refuses that route itself while the report says
nothing is free, asking again every fraction of a second; it lets through no
more than what a report said was free, and forgets the budget soon after, so an
idle shop is never refused on an old report. The service's own check stays the
authority: the report only moves refusals to the edge (the idea of Envoy's
out-of-band load reports, ORCA, on one number).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["BUDGET", "BUDGET_PATH", "Budget", "BudgetReport"]

# On a 503 refused against a reported budget; the value names the budget.
BUDGET = "x-emporium-budget"
# Where the service reports its budgets; the gateway never serves /internal/ publicly.
BUDGET_PATH = "/internal/admission"


@dataclass(frozen=True, slots=True)
class Budget:
    """What is left of one route's budget: requests still admitted, else when to retry."""

    free: int
    retry_after: int

    def as_json(self) -> dict[str, int]:
        return {"free": self.free, "retry_after": self.retry_after}


# The service's budgets now, by "METHOD /exact/path".
BudgetReport = Callable[[], Mapping[str, Budget]]
