"""``emporium audit``: the cross-service invariants I1 to I4, checked through the
services' own APIs (no service's store is read directly)."""

from emporium.audit.invariants import Snapshot, Violation, check_all

__all__ = ["Snapshot", "Violation", "check_all"]
