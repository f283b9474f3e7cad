"""runlog.otel: OpenTelemetry log and metric exporters writing to the active run."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _repo import REPO as ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import runlog
from runlog import otel
from runlog._otel import records as otel_records
from runlog.otel import RunLogExporter, RunMetricExporter


class Providers:
    """Creates OTel providers for a test and shuts every one down at its end."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def logs(self, *processors: Any, resource: Resource | None = None) -> LoggerProvider:
        provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        for processor in processors:
            provider.add_log_record_processor(processor)
        self.items.append(provider)
        return provider

    def metrics(self, exporter: RunMetricExporter, views: tuple[View, ...] = ()) -> tuple[MeterProvider, Any]:
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=10**9)
        provider = MeterProvider(metric_readers=[reader], views=list(views), shutdown_on_exit=False)
        self.items.append(provider)
        return provider, reader

    def traces(self) -> TracerProvider:
        provider = TracerProvider(shutdown_on_exit=False)
        self.items.append(provider)
        return provider


@pytest.fixture()
def providers() -> Iterator[Providers]:
    """OTel providers made by the test, shut down after it."""
    made = Providers()
    yield made
    for provider in made.items:
        provider.shutdown()


@pytest.fixture()
def run(exp: runlog.Experiment) -> runlog.Run:
    """A running run, active for the whole process."""
    return exp.start_logging()


def driver_log(run: runlog.Run, name: str = "logs/driver_log.txt") -> str:
    path = run.path / "files" / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


@contextlib.contextmanager
def on_root(handler: logging.Handler) -> Iterator[None]:
    """``handler`` on the root logger (level DEBUG) for the block; removed before the providers shut down."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def sdk_logging_handler(provider: LoggerProvider) -> logging.Handler:
    # The SDK's handler is deprecated (since 1.40) in favour of opentelemetry-instrumentation-logging's,
    # but it is what most programs still attach; its DeprecationWarning is not what these tests check.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return LoggingHandler(logger_provider=provider)


def test_issue_snippet_end_to_end(run: runlog.Run, providers: Providers) -> None:
    """The issue's set-up: records reach the driver log, tagged metrics and instruments reach get_metrics."""
    logger_provider = providers.logs(
        BatchLogRecordProcessor(RunLogExporter()), resource=Resource.create({"service.name": "trainer"})
    )
    meter_provider, _ = providers.metrics(RunMetricExporter())
    log = logger_provider.get_logger("app.train")
    log.emit(body="starting", severity_text="INFO", severity_number=SeverityNumber.INFO, attributes={"lr": 0.01})
    for epoch in range(3):
        log.emit(
            body="epoch done",
            severity_text="INFO",
            severity_number=SeverityNumber.INFO,
            attributes={"runlog.metric.loss": 1.0 / (epoch + 1), "runlog.step": epoch},
        )
    samples = meter_provider.get_meter("trainer").create_counter("samples")
    samples.add(32)
    samples.add(32)
    assert logger_provider.force_flush()
    assert meter_provider.force_flush()

    text = driver_log(run)
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith(' INFO:app.train:starting {"lr": 0.01}')
    assert all(":app.train:epoch done" in line for line in lines[1:])
    assert [(p.value, p.step) for p in run.get_metric_history("loss")] == [(1.0, 0), (0.5, 1), (1.0 / 3, 2)]
    assert run.get_metrics()["samples"] == 64


def test_log_line_fields_severity_scope_attributes_and_exception(run: runlog.Run, providers: Providers) -> None:
    """A record's line carries time, severity, scope, body and attributes; a stack trace follows on its own lines."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    log = provider.get_logger("svc.db")
    log.emit(body="slow query", severity_number=SeverityNumber.WARN, attributes={"ms": 812, "table": "users"})
    log.emit(body={"k": [1, 2]}, severity_text="DEBUG")
    std_logger = logging.getLogger("svc.db")
    std_logger.propagate = False
    handler = sdk_logging_handler(provider)
    std_logger.addHandler(handler)
    try:
        raise ValueError("bad row")
    except ValueError:
        std_logger.exception("failed")
    finally:
        std_logger.removeHandler(handler)
    text = driver_log(run)
    first, second, third, *trace = text.splitlines()
    assert first.endswith(' WARN:svc.db:slow query {"ms": 812, "table": "users"}')
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", first)  # 2026-11-27T14:28:49.123Z, UTC
    assert second.endswith(' DEBUG:svc.db:{"k": [1, 2]}')
    assert ' ERROR:svc.db:failed {"exception.type": "ValueError", "exception.message": "bad row"}' in third
    assert trace[0].startswith("Traceback (most recent call last):")
    assert trace[-1] == "ValueError: bad row"


def test_trace_and_span_ids_in_exported_lines(run: runlog.Run, providers: Providers) -> None:
    """Records emitted inside a span carry its trace_id and span_id on their driver-log line; others carry none."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    tracer = providers.traces().get_tracer("test")
    log = provider.get_logger("app")
    with tracer.start_as_current_span("step") as span:
        log.emit(body="inside", severity_text="INFO")
        context = span.get_span_context()
    log.emit(body="outside", severity_text="INFO")
    inside, outside = driver_log(run).splitlines()
    assert inside.endswith(f"inside trace_id={context.trace_id:032x} span_id={context.span_id:016x}")
    assert "trace_id" not in outside


def test_runhandler_structlog_and_exporter_lines_share_the_span(run: runlog.Run, providers: Providers) -> None:
    """Inside one span, lines from RunHandler, the structlog processor and the exporter all carry its ids."""
    import json

    import structlog

    from runlog.structlog import RunProcessor

    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    tracer = providers.traces().get_tracer("test")
    std_logger = logging.getLogger("otel.join.std")
    std_logger.propagate = False
    std_logger.setLevel(logging.INFO)
    handler = runlog.RunHandler()
    std_logger.addHandler(handler)
    slog = structlog.wrap_logger(
        structlog.PrintLogger(file=io.StringIO()),
        processors=[structlog.processors.add_log_level, RunProcessor(), structlog.processors.JSONRenderer()],
    )
    try:
        with tracer.start_as_current_span("epoch") as span:
            std_logger.info("from RunHandler")
            slog.info("from structlog")
            provider.get_logger("otel.join.otel").emit(body="from the exporter", severity_text="INFO")
            ctx = span.get_span_context()
        std_logger.info("after the span")
    finally:
        std_logger.removeHandler(handler)
        handler.close()
    tid, sid = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
    lines = driver_log(run).splitlines()
    assert len(lines) == 4
    std_line, struct_line, otel_line, after = lines
    assert std_line.endswith(f"from RunHandler trace_id={tid} span_id={sid}")
    event = json.loads(struct_line)
    assert event["event"] == "from structlog" and (event["trace_id"], event["span_id"]) == (tid, sid)
    assert otel_line.endswith(f"from the exporter trace_id={tid} span_id={sid}")
    assert "trace_id" not in after


def test_json_lines(run: runlog.Run, providers: Providers) -> None:
    """With json_lines=True each record is one JSON object with the documented keys."""
    import json

    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter(json_lines=True)))
    tracer = providers.traces().get_tracer("test")
    with tracer.start_as_current_span("s") as span:
        provider.get_logger("app").emit(body="hi", severity_text="INFO", attributes={"user": "ada"})
    (obj,) = [json.loads(line) for line in driver_log(run).splitlines()]
    assert obj["level"] == "INFO" and obj["logger"] == "app" and obj["message"] == "hi" and obj["user"] == "ada"
    assert obj["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert set(obj) >= {"time", "span_id"}


def test_tagged_metric_forms(run: runlog.Run, providers: Providers) -> None:
    """Metrics come from a 'metrics' mapping in the body, a 'metrics' attribute, or runlog.metric.* attributes."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    log = provider.get_logger("app")
    log.emit(body={"event": "epoch", "metrics": {"loss": 0.5, "acc": 0.8}, "step": 1})
    log.emit(body="epoch", attributes={"metrics": {"loss": 0.25}, "step": 2})
    log.emit(body="epoch", attributes={"runlog.metric.loss": 0.125, "runlog.step": 3, "other": 1})
    log.emit(body="lists", attributes={"runlog.metric.lr_schedule": [0.1, 0.01]})
    assert [(p.value, p.step) for p in run.get_metric_history("loss")] == [(0.5, 1), (0.25, 2), (0.125, 3)]
    metrics = run.get_metrics()
    assert metrics["acc"] == 0.8
    assert metrics["lr_schedule"] == [0.1, 0.01]
    assert "other" not in metrics
    assert len(driver_log(run).splitlines()) == 4  # a tagged record is still a driver-log line


def test_bad_tagged_value_is_skipped_and_the_rest_kept(
    run: runlog.Run, providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    """A tagged value run.log would refuse is skipped with a WARNING; the record's other values and later records stay."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    log = provider.get_logger("app")
    log.emit(body="mixed", attributes={"runlog.metric.nested": [[1, 2]], "runlog.metric.ok": 1.5, "runlog.step": 1})
    log.emit(body="next", attributes={"runlog.metric.ok": 2.5, "runlog.step": 2})
    assert [(p.value, p.step) for p in run.get_metric_history("ok")] == [(1.5, 1), (2.5, 2)]
    assert "nested" not in run.get_metrics()
    assert len(driver_log(run).splitlines()) == 2
    assert any(r.levelno == logging.WARNING and "'nested'" in r.getMessage() for r in caplog.records)


def _exported_records(providers: Providers, emit: Any) -> list[Any]:
    """The ReadableLogRecords that ``emit(otel_logger)`` makes, as a batch processor would hand them over."""
    memory = InMemoryLogRecordExporter()
    provider = providers.logs(SimpleLogRecordProcessor(memory))
    emit(provider.get_logger("app"))
    return list(memory.get_finished_logs())


def test_a_batch_of_tagged_records_is_one_points_write_in_order(
    run: runlog.Run, providers: Providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of tagged records with numbers under names seen before is one write to the points file; a batch
    mixing new names, strings, bools, lists, float steps and bad values keeps every value in logged order."""

    def mixed(log: Any) -> None:
        log.emit(body="a", attributes={"metrics": {"loss": 0.5, "acc": 1}, "step": 0})
        log.emit(body="b", attributes={"metrics": {"loss": 0.25, "lr": 0.1}, "step": 1})  # a new name
        log.emit(body="c", attributes={"metrics": {"loss": 0.125, "note": "warm"}, "step": 2})  # a string value
        log.emit(body="d", attributes={"runlog.metric.loss": 0.0625, "runlog.step": 3.0})  # a float step
        log.emit(body="e", attributes={"metrics": {"loss": True, "big": 2**70}})  # a bool, an int beyond int64
        log.emit(body="f", attributes={"metrics": {"loss": 0.03125, "bad": [[1]]}, "step": 5})  # a bad value
        log.emit(body="g", attributes={"metrics": {"loss": 0.015625, "acc": 2}, "step": 6})

    exporter = RunLogExporter(run=run)
    exporter.export(_exported_records(providers, mixed))
    history = [(p.value, p.step) for p in run.get_metric_history("loss")]
    assert history == [(0.5, 0), (0.25, 1), (0.125, 2), (0.0625, 3), (True, None), (0.03125, 5), (0.015625, 6)]
    metrics = run.get_metrics()
    assert metrics["acc"] == [1, 2] and metrics["lr"] == 0.1 and metrics["note"] == "warm" and metrics["big"] == 2**70
    assert "bad" not in metrics

    batch = _exported_records(
        providers, lambda log: [log.emit(body="s", attributes={"metrics": {"loss": i / 8, "acc": i}, "step": 10 + i}) for i in range(50)]
    )
    writes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        writes.append(fd)
        return real_write(fd, data)

    monkeypatch.setattr("runlog._store.writer._os_write", counting_write)
    exporter.export(batch)
    assert writes.count(run._writer._points_fd) == 1
    history = [(p.value, p.step) for p in run.get_metric_history("loss")]
    assert history[-50:] == [(i / 8, 10 + i) for i in range(50)]
    assert len(driver_log(run).splitlines()) == 57


_json_leaf = st.one_of(
    st.text(max_size=6), st.integers(-(2**70), 2**70), st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)
)
_json_dicts = st.recursive(
    st.dictionaries(st.one_of(st.text(max_size=5), st.integers(0, 3)), _json_leaf, max_size=4),
    lambda inner: st.dictionaries(st.text(max_size=5), st.one_of(_json_leaf, inner), max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(_json_dicts)
def test_attribute_json_of_text_lines_is_what_json_dumps_writes(value: dict[Any, Any]) -> None:
    """The attributes' JSON on a text line (a shortcut for plain dicts) is byte-identical to
    json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=...) for any dict."""
    expected = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=otel_records._json_default)
    assert otel_records._dumps(value) == expected


def test_stdlib_logging_handler_with_runlog_metrics_extra(run: runlog.Run, providers: Providers) -> None:
    """Through the SDK LoggingHandler, extra={'metrics': ..., 'step': ...} (what runlog.metrics builds) feeds the store."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    logger = logging.getLogger("otel.stdlib.test")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = sdk_logging_handler(provider)
    logger.addHandler(handler)
    try:
        logger.info("epoch %d done", 4, extra={"metrics": {"loss": 0.1}, "step": 4})
    finally:
        logger.removeHandler(handler)
    assert [(p.value, p.step) for p in run.get_metric_history("loss")] == [(0.1, 4)]
    (line,) = driver_log(run).splitlines()
    assert " INFO:otel.stdlib.test:epoch 4 done " in line
    assert "code.file.path" not in line  # the handler's code.* attributes are kept off text lines


def test_record_written_by_runhandler_is_not_written_again(run: runlog.Run, providers: Providers) -> None:
    """RunHandler and then the SDK's LoggingHandler on the root logger: each record is one driver-log line."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    run_handler = runlog.RunHandler()
    root = logging.getLogger()
    root.addHandler(run_handler)
    try:
        with on_root(sdk_logging_handler(provider)):
            logging.getLogger("app").warning("once")
    finally:
        root.removeHandler(run_handler)
        run_handler.close()
    (line,) = driver_log(run).splitlines()
    assert line.endswith("WARNING:app:once")


def test_every_instrument_kind(run: runlog.Run, providers: Providers) -> None:
    """Counters, up-down counters, gauges, histograms and the observable ones become series, attributes in the name."""
    exporter = RunMetricExporter()
    meter_provider, _ = providers.metrics(exporter)
    meter = meter_provider.get_meter("test")
    counter = meter.create_counter("requests")
    updown = meter.create_up_down_counter("queue")
    gauge = meter.create_gauge("temperature")
    histogram = meter.create_histogram("latency", explicit_bucket_boundaries_advisory=[10.0, 100.0])
    meter.create_observable_counter("cpu_seconds", callbacks=[lambda _opts: [_observation(7.5)]])
    meter.create_observable_up_down_counter("threads", callbacks=[lambda _opts: [_observation(3, {"pool": "io"})]])
    meter.create_observable_gauge("memory", callbacks=[lambda _opts: [_observation(512)]])
    counter.add(2, {"route": "/b", "code": 200})
    counter.add(1, {"code": 200, "route": "/b"})
    updown.add(5)
    updown.add(-2)
    gauge.set(21.5)
    for value in (5, 50, 500):
        histogram.record(value)
    assert meter_provider.force_flush()
    counter.add(4, {"route": "/b", "code": 200})
    histogram.record(1)
    gauge.set(22.0)  # (SDKs before 1.4x report a synchronous gauge only in intervals where it was set)
    assert meter_provider.force_flush()

    def series(name: str) -> list[tuple[Any, Any]]:
        return [(p.value, p.step) for p in run.get_metric_history(name)]

    assert series("requests{code=200,route=/b}") == [(3, 0), (7, 1)]  # cumulative: the running total
    assert series("queue") == [(3, 0), (3, 1)]
    assert series("temperature") == [(21.5, 0), (22.0, 1)]
    assert series("cpu_seconds") == [(7.5, 0), (7.5, 1)]
    assert series("threads{pool=io}") == [(3, 0), (3, 1)]
    assert series("memory") == [(512, 0), (512, 1)]
    assert series("latency.count") == [(3, 0), (4, 1)]
    assert series("latency.sum") == [(555, 0), (556, 1)]
    assert series("latency.min") == [(5, 0), (1, 1)]
    assert series("latency.max") == [(500, 0), (500, 1)]
    buckets = run.get_metrics("latency.buckets")["latency.buckets"]
    assert buckets == {
        "step": [0, 0, 0, 1, 1, 1],
        "le": [10.0, 100.0, float("inf"), 10.0, 100.0, float("inf")],
        "count": [1, 1, 1, 2, 1, 1],
    }


def _observation(value: float, attributes: dict[str, Any] | None = None) -> Any:
    from opentelemetry.metrics import Observation

    return Observation(value, attributes)


def test_metric_exporter_declares_temporality_and_delta_option(run: runlog.Run, providers: Providers) -> None:
    """Cumulative is declared for every instrument kind; preferred_temporality=DELTA logs per-export increments."""
    from opentelemetry.sdk.metrics import Counter

    assert set(RunMetricExporter()._preferred_temporality.values()) == {AggregationTemporality.CUMULATIVE}
    exporter = RunMetricExporter(preferred_temporality={Counter: AggregationTemporality.DELTA}, export_step=False)
    meter_provider, _ = providers.metrics(exporter)
    counter = meter_provider.get_meter("t").create_counter("tokens")
    counter.add(10)
    meter_provider.force_flush()
    counter.add(5)
    meter_provider.force_flush()
    assert [(p.value, p.step) for p in run.get_metric_history("tokens")] == [(10, None), (5, None)]


def test_exponential_histogram(run: runlog.Run, providers: Providers) -> None:
    """An exponential-bucket histogram gives count/sum/min/max and bucket upper bounds that contain each value."""
    view = View(instrument_name="size", aggregation=ExponentialBucketHistogramAggregation(max_size=20))
    meter_provider, _ = providers.metrics(RunMetricExporter(), views=(view,))
    histogram = meter_provider.get_meter("t").create_histogram("size")
    for value in (1.5, 3.0, 3.0, 100.0):
        histogram.record(value)
    meter_provider.force_flush()
    metrics = run.get_metrics()
    assert metrics["size.count"] == 4 and metrics["size.sum"] == 107.5
    assert metrics["size.min"] == 1.5 and metrics["size.max"] == 100.0
    table = metrics["size.buckets"]
    assert sum(table["count"]) == 4
    assert table["le"] == sorted(table["le"])
    counted = [le for le, n in zip(table["le"], table["count"]) if n]
    assert counted[0] >= 1.5 and counted[-1] >= 100.0 and counted[-1] < 200.0


@pytest.mark.timeout(60)  # a regression is an endless loop: fail fast
def test_no_recursion_with_logging_handler_on_root_simple_processor(
    run: runlog.Run, providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    """A LoggingHandler on the root logger with DEBUG diagnostics on: exports never re-enter and runlog's lines stay out."""
    exporter = RunLogExporter()
    provider = providers.logs(SimpleLogRecordProcessor(exporter))
    loop_warnings: list[logging.LogRecord] = []
    sdk_loop_logger = logging.getLogger("opentelemetry.sdk._logs._internal.export.propagate.false")
    collector = _Collect(loop_warnings)
    sdk_loop_logger.addHandler(collector)
    try:
        with on_root(sdk_logging_handler(provider)):
            for i in range(5):
                logging.getLogger("app").info("record %d", i)
    finally:
        sdk_loop_logger.removeHandler(collector)
    lines = driver_log(run).splitlines()
    assert [line.split(":app:")[1] for line in lines] == [f"record {i}" for i in range(5)]
    assert not loop_warnings  # the SDK's own "recursive loop" guard never fired
    assert any(r.name == "runlog.otel" and r.levelno == logging.DEBUG for r in caplog.records)


@pytest.mark.timeout(60)  # a regression is an endless loop: fail fast
def test_no_feedback_loop_with_batch_processor_and_failing_writes(
    run: runlog.Run, providers: Providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing store makes the exporter warn, return FAILURE and never raise; the warning is not exported again."""
    exporter = RunLogExporter()
    calls: list[int] = []
    original = exporter._export

    def counting(batch: Any) -> None:
        calls.append(len(batch))
        original(batch)

    monkeypatch.setattr(exporter, "_export", counting)
    provider = providers.logs(BatchLogRecordProcessor(exporter))

    def broken(self: Any, text: str, name: str = "") -> None:
        raise runlog.StoreError("disk full")

    with on_root(sdk_logging_handler(provider)):
        logging.getLogger("app").warning("before")
        assert provider.force_flush()
        with monkeypatch.context() as patch:
            patch.setattr("runlog._store.writer.RunWriter.write_log", broken)
            logging.getLogger("app").warning("during")
            assert provider.force_flush()
        exports_after_failure = len(calls)
        for _ in range(3):  # the warning logged by the failed export is exported, but creates nothing new
            assert provider.force_flush()
    assert len(calls) <= exports_after_failure + 1
    assert "before" in driver_log(run)
    assert "runlog.otel" not in driver_log(run)


@pytest.mark.timeout(60)  # a regression is an endless loop: fail fast
def test_reentrant_export_is_dropped(run: runlog.Run) -> None:
    """An export called from inside an export (same thread) writes nothing and returns at once."""
    provider = LoggerProvider(shutdown_on_exit=False)
    memory = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("app").emit(body="x")
    (record,) = memory.get_finished_logs()
    inner_results: list[Any] = []
    exporter = RunLogExporter()
    original = exporter._export

    def export_and_reenter(batch: Any) -> None:
        original(batch)
        inner_results.append(exporter.export(batch))

    exporter._export = export_and_reenter  # type: ignore[method-assign]
    assert exporter.export([record]) is LogRecordExportResult.SUCCESS
    assert inner_results == [LogRecordExportResult.SUCCESS]
    assert len(driver_log(run).splitlines()) == 1
    provider.shutdown()


def test_force_flush_and_shutdown_honour_timeouts(run: runlog.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an export stuck in another thread, force_flush and shutdown return after their timeout (False)."""
    release = threading.Event()
    entered = threading.Event()

    def stuck(self: Any, text: str, name: str = "") -> None:
        entered.set()
        release.wait(30)

    monkeypatch.setattr("runlog._store.writer.RunWriter.write_log", stuck)
    exporter = RunLogExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    memory = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("app").emit(body="x")
    worker = threading.Thread(target=exporter.export, args=(memory.get_finished_logs(),))
    worker.start()
    try:
        assert entered.wait(10)
        assert exporter.force_flush(timeout_millis=50) is False
        exporter.shutdown(timeout_millis=50)  # returns although the export is still running
        assert worker.is_alive()
    finally:
        release.set()
        worker.join(10)
        provider.shutdown()
    assert exporter.export(memory.get_finished_logs()) is LogRecordExportResult.FAILURE  # shut down


def test_metric_exporter_timeouts_and_reader_shutdown(run: runlog.Run, providers: Providers) -> None:
    """force_flush/export give up after their timeout while an export holds the lock; the reader's shutdown(timeout=) works."""
    exporter = RunMetricExporter()
    exporter._lock.acquire()
    try:
        assert exporter.force_flush(timeout_millis=20) is False
        from opentelemetry.sdk.metrics.export import MetricsData

        assert exporter.export(MetricsData(resource_metrics=[]), timeout_millis=20) is MetricExportResult.FAILURE
    finally:
        exporter._lock.release()
    meter_provider, reader = providers.metrics(exporter)
    meter_provider.get_meter("t").create_counter("c").add(1)
    reader.shutdown(timeout_millis=5_000)  # calls exporter.shutdown(timeout=...) after a last collection
    assert run.get_metrics()["c"] == 1
    assert exporter._shutdown


def test_records_without_active_run_go_to_the_next_run(exp: runlog.Experiment, providers: Providers) -> None:
    """Records exported while no run is active join RunHandler's bounded buffer and open the next run's driver log."""
    from runlog._capture import driverlog as _driverlog

    _driverlog._pending.clear()
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    log = provider.get_logger("app")
    total = _driverlog.PENDING_LIMIT + 2
    for i in range(total):
        log.emit(body=f"early {i}", attributes={"runlog.metric.x": i})
    run = exp.start_logging()
    log.emit(body="late")
    header, *lines = driver_log(run).splitlines()
    assert "2 older one(s) dropped" in header
    bodies = [line.split(":app:")[1].split(" {")[0] for line in lines]
    assert bodies == [f"early {i}" for i in range(2, total)] + ["late"]
    assert run.get_metrics()["x"] == list(range(2, total))


def test_explicit_run_and_runlog_scopes_skipped(exp: runlog.Experiment, providers: Providers) -> None:
    """RunLogExporter(run=...) writes to that run even when another is active; runlog.* scopes are not written."""
    target = exp.start_logging()
    other = exp.start_logging()
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter(run=target)))
    provider.get_logger("app").emit(body="to target")
    provider.get_logger("runlog.store").emit(body="diagnostic")
    assert "to target" in driver_log(target)
    assert "diagnostic" not in driver_log(target)
    assert driver_log(other) == ""
    target.complete()
    provider.get_logger("app").emit(body="after the end")
    assert "after the end" not in driver_log(target) + driver_log(other)


def test_forked_child_exports_to_its_own_driver_log(run: runlog.Run) -> None:
    """An exporter whose lock was held at fork time still exports in the child, into driver_log_<pid>.txt."""
    exporter = RunLogExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    memory = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("app").emit(body="from the child")
    records = memory.get_finished_logs()
    exporter._lock.acquire()  # as if the parent's export thread were writing at the moment of the fork
    try:
        with warnings.catch_warnings():  # 3.12+ warns about fork() with threads running; that is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: export, then leave without running the parent's exit hooks
            ok = exporter.export(records) is LogRecordExportResult.SUCCESS
            os._exit(0 if ok else 1)
    finally:
        exporter._lock.release()
    _, status = os.waitpid(pid, 0)
    provider.shutdown()
    assert os.waitstatus_to_exitcode(status) == 0
    assert "from the child" in driver_log(run, f"logs/driver_log_{pid}.txt")
    assert "from the child" not in driver_log(run)


def test_exporters_implement_the_sdk_interfaces() -> None:
    """RunLogExporter is a LogRecordExporter and RunMetricExporter a MetricExporter of the installed SDK."""
    from opentelemetry.sdk.metrics.export import MetricExporter

    assert issubclass(RunLogExporter, LogRecordExporter)
    assert issubclass(RunMetricExporter, MetricExporter)
    RunLogExporter()  # no abstract method left
    RunMetricExporter()


def test_public_names_stay_in_runlog_otel_and_its_modules_stay_small() -> None:
    """Every name of runlog.otel.__all__ (the documented ones) imports from runlog.otel, which is only the
    public surface over runlog._otel; every module of it stays under 600 lines (issue 14)."""
    documented = {"RunLogExporter", "RunMetricExporter", "format_record", "tagged_metrics", "series_name",
                  "METRIC_ATTRIBUTE_PREFIX", "STEP_ATTRIBUTE"}
    assert documented <= set(otel.__all__)
    namespace: dict[str, Any] = {}
    exec("from runlog.otel import *", namespace)
    assert documented <= set(namespace)
    assert RunLogExporter.__module__ == "runlog._otel.logs" and RunMetricExporter.__module__ == "runlog._otel.metrics"
    for path in [ROOT / "runlog" / "otel.py", *(ROOT / "runlog" / "_otel").glob("*.py")]:
        assert len(path.read_text().splitlines()) < 600, path


def test_series_name_scheme() -> None:
    """Attributes are sorted by key into name{key=value,...}; suffixes go before the braces."""
    assert otel.series_name("loss", None) == "loss"
    assert otel.series_name("rps", {"z": 1, "a": True}, "sum") == "rps.sum{a=true,z=1}"
    assert otel.series_name("x", {"tags": ("a", "b")}) == "x{tags=[a,b]}"


def test_import_runlog_does_not_import_opentelemetry_and_missing_sdk_names_the_extra() -> None:
    """`import runlog` loads no opentelemetry module; without the SDK, runlog.otel says which pip install fixes it."""
    code = (
        "import sys\n"
        "import runlog\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'opentelemetry imported'\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('opentelemetry'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        "    import runlog.otel\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "pip install 'runlog[otel]'" in result.stdout


def test_example_otel_app(tmp_path: Path) -> None:
    """examples/otel_app.py runs and leaves its records and metrics in the run it created."""
    env = {**os.environ, "RUNLOG_STORE": str(tmp_path / "example-store")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "otel_app.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    ws = runlog.Workspace(tmp_path / "example-store")
    (run,) = runlog.Experiment(ws, "otel-app").get_runs()
    assert run.get_status() == "Completed"
    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0, 0.5, 0.25]
    assert metrics["batches.count"] == 1
    log = driver_log(run)
    assert "epoch 2 done" in log and "trace_id=" in log


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


def test_one_record_that_cannot_be_written_as_json_does_not_lose_its_batch(run: runlog.Run) -> None:
    """A body JSON cannot hold as such (a mapping with tuple keys) still becomes a line; the other records are kept."""
    provider = LoggerProvider(shutdown_on_exit=False)
    memory = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    log = provider.get_logger("app")
    log.emit(body="before")
    log.emit(body={("a", 1): 2, "b": 3})
    log.emit(body="after")
    for json_lines in (False, True):
        exporter = RunLogExporter(json_lines=json_lines)
        assert exporter.export(memory.get_finished_logs()) is LogRecordExportResult.SUCCESS
    lines = driver_log(run).splitlines()
    assert len(lines) == 6
    assert lines[0].endswith("INFO:app:before") or lines[0].endswith(":app:before")
    assert "('a', 1)" in lines[1] and lines[2].endswith(":app:after")
    assert '"message": "after"' in lines[5] and "('a', 1)" in lines[4]
    provider.shutdown()
