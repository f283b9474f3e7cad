"""Tests of runlog._capture.driverlog: driver-log naming, UTC timestamps, deferred records and the no-run buffer."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

import runlog
from runlog._capture import driverlog as _driverlog
from runlog._capture.driverlog import (
    PENDING_LIMIT,
    ThreadState,
    drain_deferred,
    driver_log_name_for,
    format_utc,
    format_utc_ns,
    utc_second,
)

pytestmark = pytest.mark.usefixtures("restored")


def log_text(run: runlog.Run, name: str = "logs/driver_log.txt") -> str:
    path = run.path / "files" / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.parametrize(
    ("created", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (0.9999, "1970-01-01T00:00:00.999Z"),  # truncated, never rounded up into the next second
        (1764858516.25, "2025-12-04T14:28:36.250Z"),
    ],
)
def test_format_utc_is_utc_with_truncated_milliseconds(created: float, text: str) -> None:
    assert format_utc(created) == text


def test_format_utc_does_not_depend_on_the_local_time_zone(local_time_is_not_utc: None) -> None:
    assert format_utc(1764858516.25) == "2025-12-04T14:28:36.250Z"
    assert utc_second(1764858516) == "2025-12-04T14:28:36"


def test_format_utc_ns_keeps_every_millisecond_of_an_integer_time() -> None:
    assert format_utc_ns(1_999_999_999) == "1970-01-01T00:00:01.999Z"
    assert format_utc_ns(1764858516_001_000_000) == "2025-12-04T14:28:36.001Z"
    for ms in (0, 1, 499, 999):  # the float form agrees when the float is 50 us inside the millisecond
        assert format_utc_ns(1764858516_000_000_000 + ms * 1_000_000) == format_utc(1764858516 + ms / 1000 + 5e-5)


@pytest.mark.parametrize(
    ("rank", "world", "main", "name"),
    [
        (3, 4, False, "logs/driver_log_rank_3.txt"),
        (3, 4, True, "logs/driver_log_rank_3.txt"),  # a rank file even for the main process
        (0, 1, True, "logs/driver_log.txt"),  # a world of one is not a multi-process job
        (None, 4, True, "logs/driver_log.txt"),
        (2, None, False, "logs/driver_log_1234.txt"),
        (None, None, False, "logs/driver_log_1234.txt"),
    ],
)
def test_driver_log_name_for_applies_the_naming_rule(
    rank: int | None, world: int | None, main: bool, name: str
) -> None:
    assert driver_log_name_for(rank, world, main, 1234) == name


class _Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.seen: list[Any] = []
        self.fail_on = fail_on

    def emit(self, record: Any) -> None:
        if record == self.fail_on:
            raise RuntimeError("broken handler")
        self.seen.append(record)


def test_drain_deferred_emits_in_order_and_survives_a_failing_handler() -> None:
    tls = ThreadState()
    handler = _Recorder(fail_on="b")
    tls.deferred = [(handler, "a"), (handler, "b"), (handler, "c")]
    drain_deferred(tls)
    assert handler.seen == ["a", "c"]
    assert tls.deferred is None and not tls.draining


def test_drain_deferred_waits_while_the_thread_is_busy() -> None:
    tls = ThreadState()
    handler = _Recorder()
    tls.deferred = [(handler, "a")]
    tls.busy = True
    drain_deferred(tls)
    assert handler.seen == [] and tls.deferred == [(handler, "a")]


def test_drain_deferred_writes_records_deferred_while_draining_in_bounded_rounds() -> None:
    """A record that logs another one while it is written: drained in the next round, at most five rounds."""
    tls = ThreadState()

    class Chatty:
        def __init__(self) -> None:
            self.count = 0

        def emit(self, record: Any) -> None:
            self.count += 1
            tls.deferred = [(self, record + 1)]  # every write defers one more, forever

    chatty = Chatty()
    tls.deferred = [(chatty, 0)]
    drain_deferred(tls)
    assert chatty.count == 5
    assert tls.deferred is None


def test_flush_pending_with_nothing_buffered_writes_nothing(exp: runlog.Experiment) -> None:
    run = exp.start_logging()
    assert not _driverlog.has_pending()
    assert _driverlog.flush_pending(run) == 0
    assert log_text(run) == ""


def test_add_pending_keeps_the_last_records_up_to_the_limit() -> None:
    for i in range(PENDING_LIMIT + 5):
        _driverlog.add_pending(f"line {i}\n")
    assert len(_driverlog._pending) == PENDING_LIMIT
    assert _driverlog._pending[0][0] == "line 5\n"


def test_records_buffered_at_exit_are_reported() -> None:
    logger = logging.getLogger("runlog.stdlib")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        _driverlog._report_pending_at_exit()
        assert seen == []
        _driverlog.add_pending("early\n")
        _driverlog._report_pending_at_exit()
    finally:
        logger.removeHandler(handler)
    assert len(seen) == 1 and seen[0].startswith("1 log record(s) were logged while no runlog run was active")


def test_a_forked_child_starts_with_an_empty_buffer() -> None:
    _driverlog.add_pending("parent's\n")
    _driverlog.add_pending_system("parent's system line\n")
    saved = _driverlog.current_pid
    try:
        _driverlog._after_fork_in_child()
        assert not _driverlog.has_pending() and not _driverlog._pending_system
        assert _driverlog.current_pid == os.getpid()
    finally:
        _driverlog.current_pid = saved


def test_driver_log_names(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """The naming rule: owner -> driver_log.txt, RANK with WORLD_SIZE > 1 -> rank file, else the pid."""
    run = exp.start_logging()
    assert _driverlog.driver_log_name(run) == "logs/driver_log.txt"
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert _driverlog.driver_log_name(run) == "logs/driver_log.txt"
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert _driverlog.driver_log_name(run) == "logs/driver_log_rank_3.txt"
    monkeypatch.delenv("RANK")
    fetched = runlog.Run(exp, run.id)  # not the owner: like a worker process that found the run
    fetched._record = {**fetched._record, "pid": -5}
    assert _driverlog.driver_log_name(fetched) == f"logs/driver_log_{os.getpid()}.txt"
    monkeypatch.setenv("RUNLOG_OUTPUT_CAPTURED", "1")  # a submitted script: its output is captured there
    assert _driverlog.driver_log_name(fetched) == "logs/driver_log.txt"
    monkeypatch.setenv("RANK", "1")
    assert _driverlog.driver_log_name(fetched) == "logs/driver_log_rank_1.txt"


def test_records_before_a_run_are_buffered_and_bounded(exp: runlog.Experiment) -> None:
    """Records logged with no active run: the last 1000 go to the next run's driver log, drops are counted."""
    log = logging.getLogger("early")
    log.setLevel(logging.INFO)
    log.addHandler(runlog.RunHandler(fmt="%(message)s"))
    for i in range(1500):
        log.info("early %d", i)
    log.info("tagged early", extra=runlog.metrics(early_metric=1.5))
    run = exp.start_logging()
    log.info("in run")
    lines = log_text(run).splitlines()
    assert "1000 record(s) logged before run" in lines[0] and "(501 older one(s) dropped" in lines[0]
    assert lines[1] == "early 501" and lines[-3] == "early 1499"
    assert lines[-2:] == ["tagged early", "in run"]
    assert run.get_metrics() == {"early_metric": 1.5}
    assert not _driverlog.has_pending()


def test_buffer_reaches_a_run_found_from_the_environment(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that becomes active without starting here (RUNLOG_RUN_ID) gets the buffer on the first record."""
    log = logging.getLogger("env")
    log.setLevel(logging.INFO)
    log.addHandler(runlog.RunHandler(fmt="%(message)s"))
    log.info("buffered")
    run = exp.start_logging()
    runlog._model.context.finished(run)  # not active in this process any more...
    monkeypatch.setenv("RUNLOG_RUN_ID", run.id)  # ...but named by the environment
    runlog._model.context._env_checked = False
    log.info("first")
    assert log_text(run).splitlines()[1:] == ["buffered", "first"]


def test_buffered_tagged_metrics_keep_the_values_they_were_logged_with(exp: runlog.Experiment) -> None:
    """A metrics dict reused (and changed) between records logged before the run keeps each record's own values."""
    log = logging.getLogger("reuse")
    log.setLevel(logging.INFO)
    log.addHandler(runlog.RunHandler(fmt="%(message)s"))
    values: dict[str, float] = {}
    for step in range(3):
        values["loss"] = 1.0 / (step + 1)
        log.info("epoch", extra={"metrics": values, "step": step})
    run = exp.start_logging()
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1.0 / 3]}


def test_a_sink_keeps_the_writers_descriptor_until_the_writer_closes_its_files(exp: runlog.Experiment) -> None:
    """Sink.open gives the writer's descriptor of the process's driver log and remembers the writer's dict of
    open logs with it; once the writer closes its files that dict is another, and open() takes a new one."""
    run = exp.start_logging()
    sink = _driverlog.Sink(run)
    assert sink.run is run and sink.name == _driverlog.driver_log_name(run) and sink.fd == -1
    fd = sink.open()
    writer = run._writer
    assert fd >= 0 and writer._log_fds is sink.fds and writer._log_fds[sink.name] == fd
    writer.close()
    assert writer._log_fds is not sink.fds
    again = sink.open()
    os.write(again, b"after\n")
    assert (run.path / "files" / sink.name).read_bytes().endswith(b"after\n")
    assert _driverlog.NO_SINK.run is None
    run.complete()
