"""Tests of runlog._otel.export: what both exporters share (the export guard, the target run, locks after fork)."""

from __future__ import annotations

import logging
import os
import threading
import warnings

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from otel_helpers import Providers, driver_log, on_root, sdk_logging_handler

import runlog
from runlog._otel import export as otel_export
from runlog.otel import RunLogExporter, RunMetricExporter


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


def test_exporting_marks_the_thread_and_nests() -> None:
    assert not otel_export.in_export()
    with otel_export.Exporting():
        assert otel_export.in_export()
        with otel_export.Exporting():
            assert otel_export.in_export()
        assert otel_export.in_export()  # the outer export is still running
        seen: list[bool] = []
        other = threading.Thread(target=lambda: seen.append(otel_export.in_export()))
        other.start()
        other.join()
        assert seen == [False]  # per thread
    assert not otel_export.in_export()


@pytest.mark.parametrize(
    ("name", "ours"),
    [("runlog", True), ("runlog.store", True), ("runlogger", False), ("app.runlog", False), ("", False), (None, False)],
)
def test_runlog_scopes_are_runlog_and_its_children(name: str | None, ours: bool) -> None:
    assert otel_export.is_runlog_scope(name) is ours


def test_ids_are_fixed_width_hex_and_empty_when_unset() -> None:
    assert otel_export.hex_trace_id(0xABC) == "0" * 29 + "abc"
    assert otel_export.hex_span_id(1) == "0" * 15 + "1"
    assert otel_export.hex_trace_id(0) == "" and otel_export.hex_span_id(None) == ""


def test_target_run_is_the_explicit_one_unless_ended_else_the_active_one(exp: runlog.Experiment) -> None:
    assert otel_export.target_run(None) is None
    active = exp.start_logging()
    bound = exp.start_logging()
    assert otel_export.target_run(bound) is bound
    assert otel_export.target_run(None) is bound  # the run started last
    bound.complete()
    assert otel_export.target_run(bound) is None  # never another run in its place
    assert otel_export.target_run(None) is active


def test_written_by_runlog_reads_the_mark(providers: Providers) -> None:
    memory = InMemoryLogRecordExporter()
    log = providers.logs(SimpleLogRecordProcessor(memory)).get_logger("app")
    log.emit(body="marked", attributes={otel_export.WRITTEN_MARK: True})
    log.emit(body="plain", attributes={"k": 1})
    log.emit(body="bare")
    assert [otel_export.written_by_runlog(r) for r in memory.get_finished_logs()] == [True, False, False]


def test_every_exporter_gets_a_fresh_lock_after_a_fork() -> None:
    logs, metrics = RunLogExporter(), RunMetricExporter()
    held = [logs._lock, metrics._lock]
    for lock in held:
        lock.acquire()
    try:
        otel_export._after_fork_in_child()
        assert logs._lock not in held and metrics._lock not in held
        assert not logs._lock.locked() and not metrics._lock.locked()
    finally:
        for lock in held:
            lock.release()
