"""Side-by-side cost of runlog's logging paths (ratios in one run; not a pass/fail test).

    .venv/bin/python benchmarks/bench_logging.py [--records 100000] [--repeat 3]

Rows, each the median of ``--repeat`` interleaved rounds of N records through a logger with one handler:

- ``FileHandler``: ``logging.FileHandler`` with RunHandler's default formatter (the baseline;
  it flushes after every record, as the stdlib does).
- ``RunHandler plain``: the same records and formatter into the active run's driver log.
- ``RunHandler tagged``: records with ``extra=runlog.metrics(loss=..., acc=..., step=i)``
  (line + two metric values) — compared with the FileHandler plain row.
- ``RunHandler json``: ``RunHandler(json=True)`` (python-json-logger), for information.
- ``structlog JSONRenderer``: structlog writing JSON lines to a file (``WriteLoggerFactory``).
- ``structlog RunProcessor``: the same pipeline ending in ``RunProcessor(drop=True)``.

Targets (issue 3): RunHandler plain / FileHandler <= 1.0; tagged / FileHandler <= 1.3;
RunProcessor / JSONRenderer <= 1.0. A ratio is the median over rounds of the ratio of the two
cases measured in the same round (back to back), which is steadier on a shared machine than
the ratio of the two medians.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", "--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="10,000 records, 3 repetitions")
    args = parser.parse_args()
    n, repeat = (10_000, 3) if args.quick else (args.records, args.repeat)

    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-"))
    os.environ["RUNLOG_STORE"] = str(tmp / "store")
    import structlog

    import runlog
    from runlog.stdlib import RunFormatter
    from runlog.structlog import RunProcessor

    run = runlog.Experiment(runlog.Workspace(), "bench").start_logging()
    formatter = RunFormatter()
    cases: dict[str, Callable[[], float]] = {}

    def stdlib_case(label: str, make: Callable[[], logging.Handler], tagged: bool = False) -> None:
        def once() -> float:
            handler = make()
            log = _logger(f"bench.{label}", handler)
            info = log.info
            t0 = time.perf_counter()
            if tagged:
                for i in range(n):
                    info("epoch %d done", i, extra={"metrics": {"loss": 0.5, "acc": 0.25}, "step": i})
            else:
                for i in range(n):
                    info("epoch %d done", i)
            elapsed = time.perf_counter() - t0
            handler.close()
            return elapsed

        cases[label] = once

    counter = iter(range(1_000_000))

    def file_handler() -> logging.Handler:
        h = logging.FileHandler(tmp / f"file-{next(counter)}.log")
        h.setFormatter(formatter)
        return h

    def run_handler() -> logging.Handler:
        return runlog.RunHandler(formatter=formatter)

    stdlib_case("FileHandler", file_handler)
    stdlib_case("FileHandler tagged", file_handler, tagged=True)
    stdlib_case("RunHandler plain", run_handler)
    stdlib_case("RunHandler tagged", run_handler, tagged=True)
    stdlib_case("RunHandler json", lambda: runlog.RunHandler(json=True))

    def json_file_handler() -> logging.Handler:
        from pythonjsonlogger.json import JsonFormatter

        h = logging.FileHandler(tmp / f"json-{next(counter)}.log")
        h.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        return h

    stdlib_case("JsonFormatter on FileHandler", json_file_handler)

    shared = [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)]

    def structlog_case(label: str, processors: list[object], factory: Callable[[], object]) -> None:
        def once() -> float:
            structlog.configure(processors=processors, logger_factory=factory(), cache_logger_on_first_use=True)  # type: ignore[arg-type]
            log = structlog.get_logger()
            t0 = time.perf_counter()
            for i in range(n):
                log.info("epoch done", epoch=i)
            return time.perf_counter() - t0

        cases[label] = once

    files: list[object] = []

    def write_factory() -> object:
        fh = open(tmp / f"structlog-{next(counter)}.jsonl", "w")
        files.append(fh)
        return structlog.WriteLoggerFactory(fh)

    structlog_case("structlog JSONRenderer", [*shared, structlog.processors.JSONRenderer()], write_factory)
    structlog_case("structlog RunProcessor", [*shared, RunProcessor(drop=True)], structlog.ReturnLoggerFactory)
    # Interleaved rounds: the machine's load changes less within a round than across.
    samples: dict[str, list[float]] = {label: [] for label in cases}
    # Each round starts with another case (a rotation), so no case always runs after the same one.
    labels = list(cases)
    for round_no in range(repeat):
        shift = round_no % len(labels)
        for label in labels[shift:] + labels[:shift]:
            samples[label].append(cases[label]() / n * 1e6)
    run.complete()
    for fh in files:
        fh.close()  # type: ignore[attr-defined]

    med = {label: statistics.median(v) for label, v in samples.items()}

    def paired(label: str, baseline: str) -> float:
        """The median over rounds of the ratio within a round (both measured back to back)."""
        return statistics.median(a / b for a, b in zip(samples[label], samples[baseline]))

    rows = [
        ("FileHandler", "FileHandler", ""),
        ("RunHandler plain", "FileHandler", "<= 1.0"),
        ("FileHandler tagged", "FileHandler tagged", ""),
        ("RunHandler tagged", "FileHandler tagged", "<= 1.3 (the same tagged record through FileHandler)"),
        ("RunHandler tagged", "FileHandler", "(info: vs a plain record through FileHandler)"),
        ("RunHandler json", "FileHandler", "(info)"),
        ("JsonFormatter on FileHandler", "FileHandler", "(python-json-logger, for comparison)"),
        ("RunHandler json", "JsonFormatter on FileHandler", "(info: JSON lines vs python-json-logger on a file)"),
        ("structlog JSONRenderer", "structlog JSONRenderer", ""),
        ("structlog RunProcessor", "structlog JSONRenderer", "<= 1.0"),
    ]
    print(f"### A log record ({n:,} records per repetition, {repeat} repetitions; Python {sys.version.split()[0]})\n")
    print("| path | median µs/record | min | max | baseline | ratio (paired) | target |")
    print("|---|---:|---:|---:|---|---:|---|")
    for label, baseline, target in rows:
        v = samples[label]
        print(
            f"| {label} | {med[label]:.2f} | {min(v):.2f} | {max(v):.2f} | {baseline} "
            f"| {paired(label, baseline):.2f} | {target} |"
        )


if __name__ == "__main__":
    main()
