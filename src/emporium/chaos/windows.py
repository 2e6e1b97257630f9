"""What the load saw during each fault's window (pure: no I/O).

The load records, per route and per second, ``[requests, errors]``; a fault's
window is a span of those seconds (see :mod:`emporium.chaos.plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from emporium.chaos.plan import Fault

__all__ = ["errors_in_window", "judge", "traffic_elsewhere"]


def judge(
    faults: Sequence[Fault],
    route_seconds: Mapping[str, Mapping[str, Sequence[int]]],
    load_end: float,
    route_services: Mapping[str, frozenset[str]],
) -> tuple[int, int]:
    """Fill in each fault's window figures (errors, requests, last error, success
    elsewhere); return (requests, errors) elsewhere over the whole load: on the
    routes that touch no service under a fault at that second (in its window,
    or not ready again yet)."""
    spans: list[tuple[Fault, float, float]] = []
    for group in (
        [f for f in faults if not f.periodic],
        [f for f in faults if f.periodic],
    ):
        for index, fault in enumerate(group):
            following = group[index + 1] if index + 1 < len(group) else None
            # Up to the next fault as it really started: each waits until what the
            # one before touched is ready again, so it may start late.
            end = load_end if following is None else following.started or following.at
            spans.append((fault, fault.started if fault.started is not None else fault.at, end))

    # A service is under its fault through its window and, past it, until it is
    # ready again: a killed instance on a 5 s timer may take longer to come back.
    down = [
        (
            fault.service,
            start,
            max(end, load_end if fault.ready_again is None else fault.ready_again),
        )
        for fault, start, end in spans
    ]

    def faulted(moment: float) -> frozenset[str]:
        return frozenset(service for service, start, end in down if start <= moment < end)

    for fault, start, end in spans:
        fault.errors, fault.requests, fault.last_error = errors_in_window(route_seconds, start, end)
        fault.elsewhere = traffic_elsewhere(route_seconds, start, end, faulted, route_services)
    return traffic_elsewhere(route_seconds, 0.0, load_end, faulted, route_services)


def errors_in_window(
    route_seconds: Mapping[str, Mapping[str, Sequence[int]]], start: float, end: float
) -> tuple[dict[str, int], int, float | None]:
    """(errors per route, requests, last second with an error) over [start, end)
    from the load's per-route, per-second ``[requests, errors]`` counts."""
    errors: dict[str, int] = {}
    requests = 0
    last: float | None = None
    for route, seconds in route_seconds.items():
        for second_text, (count, failed) in seconds.items():
            second = int(second_text)
            if not start <= second + 0.5 < end:
                continue
            requests += count
            if failed:
                errors[route] = errors.get(route, 0) + failed
                last = max(last or 0.0, second + 1.0)
    return dict(sorted(errors.items())), requests, last


def traffic_elsewhere(
    route_seconds: Mapping[str, Mapping[str, Sequence[int]]],
    start: float,
    end: float,
    service: str | Callable[[float], Collection[str]],
    route_services: Mapping[str, frozenset[str]],
) -> tuple[int, int]:
    """(requests, errors) over [start, end) on the routes that do not touch
    ``service`` (or, given a function of the moment, any of the services it
    names then); a route missing from ``route_services`` touches every service."""
    faulted = (lambda _moment: (service,)) if isinstance(service, str) else service
    requests = failed = 0
    for route, seconds in route_seconds.items():
        touched = route_services.get(route)
        for second_text, (count, errors) in seconds.items():
            moment = int(second_text) + 0.5
            if not start <= moment < end:
                continue
            down = faulted(moment)
            if down and (touched is None or not touched.isdisjoint(down)):
                continue
            requests += count
            failed += errors
    return requests, failed
