"""Side-by-side cost of runlog's logging paths (ratios in one run; not a pass/fail test).

    .venv/bin/python benchmarks/bench_logging.py [--records 100000] [--repeat 7] [--quick]

Rows, each the median of ``--repeat`` interleaved rounds of N records through a logger with one handler:

- ``FileHandler default``: ``logging.FileHandler`` with ``RunFormatter()`` (the same lines as
  RunHandler's default; it flushes after every record, as the stdlib does): the baseline.
- ``RunHandler default``: ``RunHandler()`` (no formatter given: runlog's default format). Each
  round's handler is removed and collected after it, as a program has one; ``RunHandler default,
  two RunHandlers alive``: the same with a second ``RunHandler`` alive, so each record is marked.
- ``FileHandler user format`` / ``RunHandler user format``: one ``logging.Formatter`` of a common
  user format (``asctime``, ``levelname``, ``name``, ``process``, ``filename``, ``lineno``,
  ``message``), shared by both handlers as ``basicConfig`` shares it.
- ``FileHandler tagged`` / ``RunHandler tagged``: records with ``extra=runlog.metrics(loss=...,
  acc=..., step=i)``: the line, and for runlog the two values in the metric store.
- ``RunHandler json`` and python-json-logger on a ``FileHandler``, for information.
- ``structlog JSONRenderer`` / ``structlog RunProcessor``: structlog to a file, or into the run.
- ``OTel in-memory tagged`` / ``OTel RunLogExporter tagged``: the SDK's ``LoggingHandler`` ->
  ``BatchLogRecordProcessor`` -> the in-memory exporter or ``RunLogExporter``, the same tagged
  records, force-flushed at the end of each round (skipped without ``runlog[otel]``).

Targets (issue 19): RunHandler default / FileHandler default <= 0.75; user format <= 0.8; tagged
<= 0.9; OTel RunLogExporter tagged / in-memory tagged <= 1.2; RunProcessor / JSONRenderer <= 1.0.
A ratio is the median over rounds of the ratio of the two cases measured in the same round (back
to back), which is steadier on a shared machine than the ratio of the two medians. Each case is
timed twice: wall time (``perf_counter``) and this process's CPU time (``process_time``, user +
system, all threads: the OTel worker thread included); on a machine other jobs load, the CPU-time
ratio is the one that measures the code rather than the scheduler.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

USER_FORMAT = "%(asctime)s %(levelname)-8s %(name)s [%(process)d] %(filename)s:%(lineno)d: %(message)s"


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
    parser.add_argument("--quick", action="store_true", help="10,000 records, 5 repetitions")
    parser.add_argument("--otel-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n, repeat = (10_000, 5) if args.quick else (args.records, args.repeat)
    if args.otel_only:
        _otel_child(n, repeat)
        return

    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-"))
    os.environ["RUNLOG_STORE"] = str(tmp / "store")
    import structlog

    import runlog
    from runlog.stdlib import RunFormatter
    from runlog.structlog import RunProcessor

    run = runlog.Experiment(runlog.Workspace(), "bench").start_logging()
    default_formatter = RunFormatter()
    user_formatter = logging.Formatter(USER_FORMAT)
    cases: dict[str, Callable[[], tuple[float, float]]] = {}

    def stdlib_case(label: str, make: Callable[[], logging.Handler], tagged: bool = False, alongside: bool = False) -> None:
        def once() -> tuple[float, float]:
            # alongside: another RunHandler alive (attached to no logger) for the round, so each record
            # is marked (see docs/logging.md, "Duplicates").
            other = runlog.RunHandler() if alongside else None
            handler = make()
            log = _logger(f"bench.{label.replace(' ', '_')}", handler)
            info = log.info
            t0, c0 = time.perf_counter(), time.process_time()
            if tagged:
                for i in range(n):
                    info("epoch %d done", i, extra={"metrics": {"loss": 0.5, "acc": 0.25}, "step": i})
            else:
                for i in range(n):
                    info("epoch %d done", i)
            elapsed = time.perf_counter() - t0, time.process_time() - c0
            # The handler goes with the round (a program has one RunHandler; two alive make each mark
            # what it writes, which the "two RunHandlers alive" row measures).
            handler.close()
            log.removeHandler(handler)
            if other is not None:
                other.close()
            return elapsed

        cases[label] = once

    counter = iter(range(1_000_000))

    def file_handler(formatter: logging.Formatter) -> Callable[[], logging.Handler]:
        def make() -> logging.Handler:
            h = logging.FileHandler(tmp / f"file-{next(counter)}.log")
            h.setFormatter(formatter)
            return h

        return make

    def user_run_handler() -> logging.Handler:
        h = runlog.RunHandler()
        h.setFormatter(user_formatter)
        return h

    stdlib_case("FileHandler default", file_handler(default_formatter))
    stdlib_case("RunHandler default", runlog.RunHandler)

    class PythonRunHandler(runlog.RunHandler):
        handle = runlog.RunHandler._handle_py  # type: ignore[assignment]  # (what it is without the C module)

    stdlib_case("RunHandler default, Python handle", PythonRunHandler)
    stdlib_case("RunHandler default, two RunHandlers alive", runlog.RunHandler, alongside=True)
    stdlib_case("FileHandler user format", file_handler(user_formatter))
    stdlib_case("RunHandler user format", user_run_handler)
    stdlib_case("FileHandler tagged", file_handler(default_formatter), tagged=True)
    stdlib_case("RunHandler tagged", runlog.RunHandler, tagged=True)
    stdlib_case("RunHandler json", lambda: runlog.RunHandler(json=True))

    def json_file_handler() -> logging.Handler:
        from pythonjsonlogger.json import JsonFormatter

        h = logging.FileHandler(tmp / f"json-{next(counter)}.log")
        h.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        return h

    stdlib_case("JsonFormatter on FileHandler", json_file_handler)

    shared = [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)]

    def structlog_case(label: str, processors: Callable[[], list[object]], factory: Callable[[], object]) -> None:
        def once() -> tuple[float, float]:
            structlog.configure(processors=processors(), logger_factory=factory(), cache_logger_on_first_use=True)  # type: ignore[arg-type]
            log = structlog.get_logger()
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(n):
                log.info("epoch done", epoch=i)
            elapsed = time.perf_counter() - t0, time.process_time() - c0
            # The processors go with the round: a RunProcessor alive makes RunHandler mark every record
            # it writes (so that the processor skips it), which a program without structlog never pays.
            structlog.reset_defaults()
            return elapsed

        cases[label] = once

    files: list[object] = []

    def write_factory() -> object:
        fh = open(tmp / f"structlog-{next(counter)}.jsonl", "w")
        files.append(fh)
        return structlog.WriteLoggerFactory(fh)

    structlog_case("structlog JSONRenderer", lambda: [*shared, structlog.processors.JSONRenderer()], write_factory)
    structlog_case("structlog RunProcessor", lambda: [*shared, RunProcessor(drop=True)], structlog.ReturnLoggerFactory)
    # Interleaved rounds: the machine's load changes less within a round than across.
    samples: dict[str, list[float]] = {label: [] for label in cases}
    cpu_samples: dict[str, list[float]] = {label: [] for label in cases}
    # Each round starts with another case (a rotation), so no case always runs after the same one.
    labels = list(cases)
    for round_no in range(repeat):
        shift = round_no % len(labels)
        for label in labels[shift:] + labels[:shift]:
            wall, cpu = cases[label]()
            samples[label].append(wall / n * 1e6)
            cpu_samples[label].append(cpu / n * 1e6)
    run.complete()
    # The OpenTelemetry pair runs in a child process afterwards: importing the SDK here would make
    # every RunHandler record above look for a current span (the trace-id suffix), which a program
    # that does not use OpenTelemetry never pays.
    otel = _otel_samples(n, repeat)
    samples.update(otel.get("wall", {}))
    cpu_samples.update(otel.get("cpu", {}))
    for fh in files:
        fh.close()  # type: ignore[attr-defined]

    med = {label: statistics.median(v) for label, v in samples.items()}

    def paired(label: str, baseline: str, of: dict[str, list[float]]) -> float:
        """The median over rounds of the ratio within a round (both measured back to back)."""
        return statistics.median(a / b for a, b in zip(of[label], of[baseline]))

    rows = [
        ("FileHandler default", "FileHandler default", ""),
        ("RunHandler default", "FileHandler default", "<= 0.75"),
        ("RunHandler default, Python handle", "FileHandler default", "(info: no C compiler at install)"),
        ("RunHandler default, two RunHandlers alive", "FileHandler default", "(info: each record marked)"),
        ("FileHandler user format", "FileHandler user format", ""),
        ("RunHandler user format", "FileHandler user format", "<= 0.8"),
        ("FileHandler tagged", "FileHandler tagged", ""),
        ("RunHandler tagged", "FileHandler tagged", "<= 0.9"),
        ("RunHandler tagged", "FileHandler default", "(info: vs a plain record through FileHandler)"),
        ("RunHandler json", "FileHandler default", "(info)"),
        ("JsonFormatter on FileHandler", "FileHandler default", "(python-json-logger, for comparison)"),
        ("RunHandler json", "JsonFormatter on FileHandler", "(info: JSON lines vs python-json-logger on a file)"),
        ("structlog JSONRenderer", "structlog JSONRenderer", ""),
        ("structlog RunProcessor", "structlog JSONRenderer", "<= 1.0"),
        ("OTel in-memory tagged", "OTel in-memory tagged", ""),
        ("OTel RunLogExporter tagged", "OTel in-memory tagged", "<= 1.2"),
    ]
    print(f"### A log record ({n:,} records per repetition, {repeat} repetitions; Python {sys.version.split()[0]})\n")
    print(f"User format: `{USER_FORMAT}`\n")
    from runlog._capture import hotpath
    from runlog._store import records

    c_handle = "yes" if hotpath.NATIVE else "no (the Python handle)"
    c_packer = "yes" if records._native is not None else "no (packed in Python)"
    print(f"RunHandler's C handle (runlog._capture._hot): {c_handle}; C packer (runlog._store._packer): {c_packer}\n")
    print("| path | median µs/record | min | max | CPU µs/record | baseline | ratio (paired) | CPU ratio (paired) | target | met (ratio / CPU ratio) |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---|---|")
    for label, baseline, target in rows:
        if label not in samples or baseline not in samples:
            print(f"| {label} | — | — | — | — | {baseline} | — | — | {target} | not measured (see stderr) |")
            continue
        v = samples[label]
        ratio, cpu_ratio = paired(label, baseline, samples), paired(label, baseline, cpu_samples)
        met = ""
        if target.startswith("<="):
            limit = float(target.split()[1])
            met = f"{'yes' if ratio <= limit else 'no'} / {'yes' if cpu_ratio <= limit else 'no'}"
        print(
            f"| {label} | {med[label]:.2f} | {min(v):.2f} | {max(v):.2f} | {statistics.median(cpu_samples[label]):.2f} "
            f"| {baseline} | {ratio:.2f} | {cpu_ratio:.2f} | {target} | {met} |"
        )


def _otel_samples(n: int, repeat: int) -> dict[str, dict[str, list[float]]]:
    """µs/record of the OpenTelemetry pair, measured by this script in a child process (empty without the SDK)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--otel-only", "--records", str(n), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"(OpenTelemetry cases not measured: {proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return {}
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _otel_child(n: int, repeat: int) -> None:
    """The OpenTelemetry pair (in-memory vs RunLogExporter, the same tagged records), interleaved rounds."""
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter

    import runlog
    from runlog.otel import RunLogExporter

    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-otel-"))
    run = runlog.Experiment(runlog.Workspace(tmp / "store"), "bench-otel").start_logging(outputs=False)
    providers: list[Any] = []
    cases: dict[str, Callable[[], tuple[float, float]]] = {}

    def pipeline(label: str, exporter: Any, after: Callable[[], None]) -> None:
        provider = LoggerProvider(shutdown_on_exit=False)
        # A queue that holds a whole round: with the default (2048) records would be dropped when the
        # worker falls behind, and dropping is cheaper than exporting.
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_queue_size=max(n + 1, 2048)))
        providers.append(provider)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            handler = LoggingHandler(logger_provider=provider)
        log = _logger(f"bench.otel.{label.replace(' ', '_')}", handler)
        info = log.info

        def once() -> tuple[float, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(n):
                info("epoch %d done", i, extra={"metrics": {"loss": 0.5, "acc": 0.25}, "step": i})
            provider.force_flush()
            elapsed = time.perf_counter() - t0, time.process_time() - c0
            after()
            return elapsed

        cases[label] = once

    memory = InMemoryLogRecordExporter()
    pipeline("OTel in-memory tagged", memory, memory.clear)  # (cleared after timing: memory stays flat)
    pipeline("OTel RunLogExporter tagged", RunLogExporter(run=run), lambda: None)
    samples: dict[str, list[float]] = {label: [] for label in cases}
    cpu_samples: dict[str, list[float]] = {label: [] for label in cases}
    labels = list(cases)
    for round_no in range(repeat):
        shift = round_no % len(labels)
        for label in labels[shift:] + labels[:shift]:
            wall, cpu = cases[label]()
            samples[label].append(wall / n * 1e6)
            cpu_samples[label].append(cpu / n * 1e6)
    for provider in providers:
        provider.shutdown()
    run.complete()
    print(json.dumps({"wall": samples, "cpu": cpu_samples}))


if __name__ == "__main__":
    main()
