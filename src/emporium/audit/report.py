"""The audit's report: a readable summary, or JSON for machines."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from emporium.audit.invariants import Snapshot, Violation

__all__ = ["as_json", "as_text"]

INVARIANTS = {
    "I1": "stock balances per SKU, never negative",
    "I2": "money: one capture per confirmed order, none net per cancelled order",
    "I3": "progress: no order PENDING past the saga deadline",
    "I4": "idempotency: one order per Idempotency-Key",
}


def as_json(snapshot: Snapshot, violations: Sequence[Violation]) -> str:
    statuses = Counter(str(order["status"]) for order in snapshot.orders)
    return json.dumps(
        {
            "ok": not violations,
            "taken_at": snapshot.taken_at.isoformat() if snapshot.taken_at else None,
            "counts": snapshot.counts,
            "orders_by_status": dict(sorted(statuses.items())),
            "violations": [asdict(v) for v in violations],
        },
        indent=2,
    )


def as_text(snapshot: Snapshot, violations: Sequence[Violation]) -> str:
    by_invariant = Counter(v.invariant for v in violations)
    statuses = Counter(str(order["status"]) for order in snapshot.orders)
    lines = [
        f"Audited {snapshot.counts.get('skus', 0)} SKUs, {snapshot.counts.get('orders', 0)} orders"
        f" ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items())) or 'none'}),"
        f" {snapshot.counts.get('payments', 0)} payments",
        "",
    ]
    for name, meaning in INVARIANTS.items():
        count = by_invariant.get(name, 0)
        mark = "ok  " if count == 0 else "FAIL"
        lines.append(f"  {mark} {name} {meaning}" + (f": {count} violation(s)" if count else ""))
    if violations:
        lines += ["", "Violations:"]
        lines += [f"  {v.invariant} {v.subject}: {v.detail}" for v in violations[:200]]
        if len(violations) > 200:
            lines.append(f"  ... and {len(violations) - 200} more (use --json)")
    lines += ["", "clean" if not violations else f"{len(violations)} violation(s)"]
    return "\n".join(lines)
