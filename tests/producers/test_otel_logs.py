"""Tests of runlog._otel.logs: RunLogExporter writes exported records and their tagged metrics into a run."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from otel_helpers import Collect, Providers, driver_log, on_root, sdk_logging_handler

import runlog
from runlog._capture import driverlog
from runlog._otel import logs as otel_logs
from runlog._store.reader import RunReader
from runlog.otel import RunLogExporter


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
        providers,
        lambda log: [
            log.emit(body="s", attributes={"metrics": {"loss": i / 8, "acc": i}, "step": 10 + i}) for i in range(50)
        ],
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


@pytest.mark.timeout(60)  # a regression is an endless loop: fail fast
def test_no_recursion_with_logging_handler_on_root_simple_processor(
    run: runlog.Run, providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    """A LoggingHandler on the root logger with DEBUG diagnostics on: exports never re-enter and runlog's lines stay out."""
    exporter = RunLogExporter()
    provider = providers.logs(SimpleLogRecordProcessor(exporter))
    loop_warnings: list[logging.LogRecord] = []
    sdk_loop_logger = logging.getLogger("opentelemetry.sdk._logs._internal.export.propagate.false")
    collector = Collect(loop_warnings)
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


def _emit_all(providers: Providers, *bodies: Any, **attributes: Any) -> list[Any]:
    """The ReadableLogRecords of one emit per body on logger ``app`` (each with ``attributes``)."""
    memory = InMemoryLogRecordExporter()
    log = providers.logs(SimpleLogRecordProcessor(memory)).get_logger("app")
    for body in bodies:
        log.emit(body=body, attributes=attributes or None)
    return list(memory.get_finished_logs())


def test_a_float_step_that_is_whole_is_an_int_and_another_is_dropped(run: runlog.Run, providers: Providers) -> None:
    exporter = RunLogExporter()
    exporter.export(_emit_all(providers, "a", **{"runlog.metric.x": 1.0, "runlog.step": 2.0}))
    exporter.export(_emit_all(providers, "b", **{"runlog.metric.x": 2.0, "runlog.step": 2.5}))
    exporter.export(_emit_all(providers, "c", **{"runlog.metric.x": 3.0, "runlog.step": True}))
    assert [(p.value, p.step) for p in run.get_metric_history("x")] == [(1.0, 2), (2.0, None), (3.0, None)]


def test_tagged_values_carry_their_records_timestamp(run: runlog.Run, providers: Providers) -> None:
    """An exported record's values are stored with the record's own timestamp (not the export's, which a batch
    processor makes seconds later), in a group write and the careful way (a new name, a text value) alike."""
    memory = InMemoryLogRecordExporter()
    log = providers.logs(SimpleLogRecordProcessor(memory)).get_logger("app")
    stamps = [1_700_000_000_000_000_000 + i * 250_000_000 for i in range(4)]
    values: list[Any] = [1.0, 2.0, "text", 4.0]
    for ns, value in zip(stamps, values):
        log.emit(timestamp=ns, body="step", attributes={"runlog.metric.x": value, "runlog.metric.l": [value]})
    RunLogExporter().export(list(memory.get_finished_logs()))
    assert [(p.value, p.time) for p in run.get_metric_history("x")] == [(v, ns / 1e9) for v, ns in zip(values, stamps)]
    lists = [(e[2], e[4]) for e in RunReader(run.path).metric_events() if e[1] == "l"]  # (a list value: its own kind)
    assert lists == [([v], ns / 1e9) for v, ns in zip(values, stamps)]


def test_a_mapping_value_is_not_a_metric_and_the_others_of_its_record_are_kept(
    run: runlog.Run, providers: Providers
) -> None:
    exporter = RunLogExporter()
    exporter.export(_emit_all(providers, {"metrics": {"nested": {"a": 1}, "ok": "text"}}))
    assert run.get_metrics() == {"ok": "text"}


def test_an_exporter_bound_to_an_ended_run_writes_nowhere(exp: runlog.Experiment, providers: Providers) -> None:
    ended = exp.start_logging()
    ended.complete()
    active = exp.start_logging()
    exporter = RunLogExporter(run=ended)
    assert exporter.export(_emit_all(providers, "late")) is LogRecordExportResult.SUCCESS
    assert driver_log(ended) == "" and driver_log(active) == ""
    assert not driverlog.has_pending()  # not kept for another run either


def test_a_failing_export_is_one_warning_and_a_failure_result(
    run: runlog.Run, providers: Providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: Any, text: str, name: str = "") -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("runlog._store.writer.RunWriter.write_log", full)
    seen: list[logging.LogRecord] = []
    logger = logging.getLogger("runlog.otel")
    collector = Collect(seen)
    logger.addHandler(collector)
    exporter = RunLogExporter()
    try:
        results = [exporter.export(_emit_all(providers, "x")) for _ in range(3)]
    finally:
        logger.removeHandler(collector)
    assert results == [LogRecordExportResult.FAILURE] * 3
    warned = [r.getMessage() for r in seen if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "could not write 1 OpenTelemetry log record(s)" in warned[0]


def test_shutdown_is_final(run: runlog.Run, providers: Providers) -> None:
    exporter = RunLogExporter()
    exporter.shutdown()
    exporter.shutdown()  # a second call is fine
    assert exporter.export(_emit_all(providers, "x")) is LogRecordExportResult.FAILURE
    assert driver_log(run) == ""
    assert exporter.force_flush(timeout_millis=0)


def test_write_tagged_groups_plain_values_and_checks_the_others_in_order() -> None:
    """Records of float/int values under str names with an int step go in one group write; others one by one."""
    calls: list[tuple[str, Any]] = []

    class Writer:
        def scalar_groups(self, groups: list[Any]) -> None:
            calls.append(("groups", [(dict(m), when) for m, _, when in groups]))

        def scalars(self, values: dict[str, Any], step: Any, when: float | None = None) -> None:
            calls.append(("scalars", (values, step, when)))

        def metric(self, kind: Any, name: str, value: Any, step: Any, at: float | None = None) -> None:
            calls.append(("metric", (name, at)))

    tagged = [({"a": 1.0}, 0, 1.0), ({"b": 2}, None, 2.0), ({"c": "text"}, 1, 3.0), ({"d": [1, 2]}, None, 4.0), ({"e": 3.0}, 3, 5.0)]
    otel_logs._write_tagged(Writer(), tagged)  # type: ignore[arg-type]
    assert calls == [
        ("groups", [({"a": 1.0}, 1.0), ({"b": 2}, 2.0)]),
        ("scalars", ({"c": "text"}, 1, 3.0)),
        ("metric", ("d", 4.0)),
        ("groups", [({"e": 3.0}, 5.0)]),
    ]
