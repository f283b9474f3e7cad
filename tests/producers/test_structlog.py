"""runlog.structlog: RunProcessor in plain structlog and through ProcessorFormatter, without duplicates."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from _logging_helpers import restored_logging
from _repo import EXAMPLES

import runlog
from runlog.structlog import RunProcessor


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """structlog's global configuration, the exception hooks and the pending buffer are restored after each test."""
    with restored_logging():
        yield
        structlog.reset_defaults()


def driver_lines(run: runlog.Run) -> list[str]:
    path = run.path / "files" / "logs" / "driver_log.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_plain_structlog_writes_json_lines_and_metrics(exp: runlog.Experiment) -> None:
    """Plain structlog: each event is a JSON line in the driver log; metrics=/step= reach the metric store."""
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, RunProcessor(), structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.PrintLoggerFactory(out),
    )
    run = exp.start_logging()
    log = structlog.get_logger()
    log.info("epoch done", metrics={"loss": 0.5, "acc": 0.25}, step=1)
    log.warning("slow", seconds=3)
    events = [json.loads(x) for x in driver_lines(run)]
    assert [(e["event"], e["level"]) for e in events] == [("epoch done", "info"), ("slow", "warning")]
    assert events[0]["metrics"] == {"loss": 0.5, "acc": 0.25} and events[1]["seconds"] == 3
    assert list(events[0])[:3] == ["timestamp", "level", "event"]
    assert run.get_metrics() == {"loss": 0.5, "acc": 0.25}
    assert run.get_metric_history("loss")[0].step == 1
    assert "event='epoch done'" in out.getvalue()  # the pipeline goes on to the user's renderer


def test_drop_ends_the_pipeline_and_renderer_is_used(exp: runlog.Experiment) -> None:
    """drop=True writes then raises DropEvent; renderer= decides the line's format."""
    out = io.StringIO()
    structlog.configure(
        processors=[RunProcessor(renderer=structlog.processors.KeyValueRenderer(key_order=["event"]), drop=True)],
        logger_factory=structlog.PrintLoggerFactory(out),
    )
    run = exp.start_logging()
    structlog.get_logger().info("only in the run", x=1)
    assert out.getvalue() == ""
    assert driver_lines(run) == ["event='only in the run' x=1"]


def test_exception_and_trace_ids(exp: runlog.Experiment) -> None:
    """exc_info is rendered as 'exception'; inside a recording span the line has trace_id and span_id."""
    from opentelemetry.sdk.trace import TracerProvider

    structlog.configure(processors=[RunProcessor(drop=True)])
    run = exp.start_logging()
    log = structlog.get_logger()
    try:
        raise KeyError("missing")
    except KeyError:
        log.error("failed", exc_info=True)
    with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
        log.info("traced")
        ctx = span.get_span_context()
    failed, traced = (json.loads(x) for x in driver_lines(run))
    assert "KeyError: 'missing'" in failed["exception"] and "exc_info" not in failed
    assert traced["trace_id"] == format(ctx.trace_id, "032x") and traced["span_id"] == format(ctx.span_id, "016x")
    assert "trace_id" not in failed


def test_structlog_through_processorformatter_with_runhandler_no_duplicates(exp: runlog.Experiment) -> None:
    """structlog -> stdlib (wrap_for_formatter) with RunProcessor AND a RunHandler: each event once, metrics once."""
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            RunProcessor(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    console = logging.StreamHandler(io.StringIO())
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.dev.ConsoleRenderer()]
        )
    )
    app = logging.getLogger("app")
    app.setLevel(logging.INFO)
    app.propagate = False
    app.addHandler(console)
    app.addHandler(runlog.RunHandler())
    run = exp.start_logging()
    structlog.get_logger("app").info("epoch done", metrics={"loss": 0.5}, step=1)
    app.info("a plain stdlib record")
    lines = driver_lines(run)
    assert len(lines) == 2
    assert json.loads(lines[0])["event"] == "epoch done" and lines[1].endswith("INFO:app:a plain stdlib record")
    assert run.get_metrics() == {"loss": 0.5}


def test_runhandler_alone_reads_structlog_event_dicts(exp: runlog.Experiment) -> None:
    """structlog -> stdlib without RunProcessor: RunHandler writes 'event k=v' and stores the metrics."""
    structlog.configure(
        processors=[structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    app = logging.getLogger("solo")
    app.setLevel(logging.INFO)
    app.propagate = False
    app.addHandler(runlog.RunHandler(fmt="%(message)s"))
    run = exp.start_logging()
    structlog.get_logger("solo").info("epoch done", metrics={"loss": 0.25}, step=2)
    assert driver_lines(run) == ["epoch done metrics={'loss': 0.25} step=2"]
    assert run.get_metric_history("loss")[0].step == 2


@pytest.mark.parametrize("order", ["console first", "run handler first"])
def test_foreign_pre_chain_with_runhandler_no_duplicates(exp: runlog.Experiment, order: str) -> None:
    """RunProcessor in a ProcessorFormatter's foreign_pre_chain plus a RunHandler: stdlib records once."""
    console = logging.StreamHandler(io.StringIO())
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, RunProcessor()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.JSONRenderer()],
        )
    )
    handlers: list[logging.Handler] = [console, runlog.RunHandler(fmt="%(message)s")]
    if order != "console first":
        handlers.reverse()
    lib = logging.getLogger("lib")
    lib.setLevel(logging.INFO)
    lib.propagate = False
    for h in handlers:
        lib.addHandler(h)
    run = exp.start_logging()
    lib.info("one record", extra=runlog.metrics(m=1.0))
    lib.info("another record")
    lines = driver_lines(run)
    assert len(lines) == 2, lines
    assert run.get_metrics() == {"m": 1.0}


def test_processorformatter_as_the_runhandlers_formatter(exp: runlog.Experiment) -> None:
    """A ProcessorFormatter (with RunProcessor in it) as RunHandler's own formatter: one line per record."""
    handler = runlog.RunHandler(
        formatter=structlog.stdlib.ProcessorFormatter(
            processors=[
                RunProcessor(),
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    lib = logging.getLogger("pf")
    lib.setLevel(logging.INFO)
    lib.propagate = False
    lib.addHandler(handler)
    run = exp.start_logging()
    lib.info("rendered by the formatter")
    (line,) = driver_lines(run)
    assert json.loads(line)["event"] == "rendered by the formatter"


def test_sdk_records_never_reach_the_driver_log(exp: runlog.Experiment) -> None:
    """runlog's own records going through a ProcessorFormatter chain with RunProcessor are not written."""
    console = logging.StreamHandler(io.StringIO())
    console.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=[RunProcessor()], processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.JSONRenderer()]))  # fmt: skip
    sdk = logging.getLogger("runlog.test")
    sdk.addHandler(console)
    sdk.setLevel(logging.DEBUG)
    run = exp.start_logging()
    sdk.debug("sdk chatter")
    sdk.removeHandler(console)
    assert driver_lines(run) == []


def test_events_before_a_run_are_buffered(exp: runlog.Experiment) -> None:
    """Events logged with no active run reach the next run's driver log (and their metrics its store)."""
    structlog.configure(processors=[RunProcessor(drop=True)])
    structlog.get_logger().info("early", metrics={"e": 1}, step=0)
    run = exp.start_logging()
    lines = driver_lines(run)
    assert "1 record(s) logged before run" in lines[0] and json.loads(lines[1])["event"] == "early"
    assert run.get_metrics() == {"e": 1}


def test_a_failing_write_does_not_raise(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store error inside the processor is reported once as a WARNING; the event continues down the pipeline."""
    out = io.StringIO()
    structlog.configure(
        processors=[RunProcessor(), structlog.processors.KeyValueRenderer()], logger_factory=structlog.PrintLoggerFactory(out)
    )
    run = exp.start_logging()

    def broken(*args: object, **kwargs: object) -> None:
        raise runlog.StoreError("disk full")

    monkeypatch.setattr(run._writer, "write_log", broken)
    structlog.get_logger().info("still printed")
    assert "still printed" in out.getvalue()


def test_structlog_example_runs(store: Path) -> None:
    """examples/structlog_app.py runs and leaves JSON lines and metrics in its run."""
    proc = subprocess.run([sys.executable, str(EXAMPLES / "structlog_app.py")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (log,) = store.glob("experiments/structlog-app/runs/*/files/logs/driver_log.txt")
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["event"] for e in events][:2] == ["training started", "a stdlib record from a library"]
    assert sum(1 for e in events if "metrics" in e) == 3


def test_a_bad_tagged_value_keeps_the_good_ones(exp: runlog.Experiment, caplog: pytest.LogCaptureFixture) -> None:
    """metrics= with one bad value: the other values and the line are stored, one WARNING per bad name (as RunHandler)."""
    structlog.configure(processors=[structlog.processors.add_log_level, RunProcessor(drop=True)])
    run = exp.start_logging()
    log = structlog.get_logger()
    with caplog.at_level(logging.WARNING, logger="runlog"):
        log.info("mixed", metrics={"good": 1.0, "bad": [1, 2]})
        log.info("mixed", metrics={"good": 2.0, "bad": [1, 2]})
        log.info("other", metrics={"good": 3.0, "worse": [3]})
    assert run.get_metrics() == {"good": [1.0, 2.0, 3.0]}
    warned = [r.getMessage() for r in caplog.records if "was not stored" in r.getMessage()]
    assert len(warned) == 2 and "'bad'" in warned[0] and "'worse'" in warned[1]
    assert [json.loads(x)["event"] for x in driver_lines(run)] == ["mixed", "mixed", "other"]
