"""CPU per access-log line: structlog's ProcessorFormatter vs the chassis' JsonFormatter.

Usage: ``python -m bench.log_lines [--rounds 6 --lines 20000]`` (a few seconds).
Writes bench/results/log-lines.md and prints it.

One process. The chassis' logging is configured as a service configures it
(JSON, to a file standing in for the instance's log), then the request log's
own call (``emporium.access``, the message and extras the chassis middleware
logs for a product read) is made ``--lines`` times with each formatter on the
root handler. Rounds alternate the two, so a shared machine's noise falls on
both; reported: the process's CPU time per line, median over rounds, and one
line of each, to show they carry the same fields (decision 0026).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

from bench import stop_on_sigterm
from bench.checkout import load_average
from emporium.chassis import context
from emporium.chassis.logging import configure_logging, foreign_chain, skip_unused_record_fields

RESULTS = Path(__file__).parent / "results" / "log-lines.md"
ARGS = ("GET", "/api/catalog/products/0b70cca5-18a0-469d-aa55-f5f42a00470f", 200)
EXTRA: dict[str, Any] = {
    "status": 200,
    "duration_ms": 0.41,
    "route": "/api/catalog/products/{product_id}",
    "client": "127.0.0.1",
}


def structlog_formatter() -> logging.Formatter:
    """What the chassis used before decision 0026 (the same processors)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign_chain(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


# What the standard library computes for every record unless told not to
# (a serving process tells it not to since decision 0026).
DEFAULTS = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)


def record_extras(on: bool, configured: tuple[Any, ...]) -> None:
    (
        logging._srcfile,
        logging.logThreads,
        logging.logProcesses,
        logging.logMultiprocessing,
    ) = DEFAULTS if on else configured


def per_line(lines: int) -> float:
    access = logging.getLogger("emporium.access")
    started = time.process_time()
    for _ in range(lines):
        access.info("%s %s %d", *ARGS, extra=EXTRA)
    return (time.process_time() - started) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "catalog-1.log"
        stream = log.open("w")
        real_stderr, sys.stderr = sys.stderr, stream
        try:
            configure_logging("catalog", "catalog-1")
            skip_unused_record_fields()  # as chassis.serve does
            configured = (
                logging._srcfile,
                logging.logThreads,
                logging.logProcesses,
                logging.logMultiprocessing,
            )
            handler = logging.getLogger().handlers[0]
            ours, theirs = handler.formatter, structlog_formatter()
            context.request_id.set("0123456789abcdef0123456789abcdef")
            results: dict[str, list[float]] = {"ProcessorFormatter": [], "JsonFormatter": []}
            samples: dict[str, dict[str, Any]] = {}
            for _ in range(args.rounds):
                for name, formatter in (("ProcessorFormatter", theirs), ("JsonFormatter", ours)):
                    handler.setFormatter(formatter)
                    record_extras(name == "ProcessorFormatter", configured)
                    results[name].append(per_line(args.lines))
                    stream.flush()
                    samples[name] = json.loads(log.read_text().splitlines()[-1])
        finally:
            sys.stderr = real_stderr
            stream.close()

    before = statistics.median(results["ProcessorFormatter"])
    after = statistics.median(results["JsonFormatter"])
    rows = "\n".join(
        f"| {name} | {statistics.median(values):.1f} | {min(values):.1f}-{max(values):.1f} |"
        for name, values in results.items()
    )
    same = sorted(set(samples["ProcessorFormatter"]) ^ set(samples["JsonFormatter"]))
    report = f"""# CPU per access-log line (decision 0026)

- date: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; load average at start {load_average()}
- command: `python -m bench.log_lines --rounds {args.rounds} --lines {args.lines}`
- one process, rounds alternating; CPU time per `emporium.access` line, median over rounds
- before: structlog's ProcessorFormatter, and the standard library finding the caller's
  frame, thread and process of each record; after: JsonFormatter without those

| formatter (and record fields computed) | µs per line (median) | min-max |
|---|---:|---:|
{rows}

JsonFormatter / ProcessorFormatter: **{after / before:.2f}**. Fields that differ
between the two lines: {", ".join(same) if same else "none"}.

```
{json.dumps(samples["JsonFormatter"])}
```
"""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(report)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
