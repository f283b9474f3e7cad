"""Tests of runlog._capture.lifecycle: what capture does when a run starts in this process."""

from __future__ import annotations

import logging
import sys

import pytest

import runlog
from runlog._capture import driverlog, excepthook
from runlog._capture.lifecycle import on_run_started

pytestmark = pytest.mark.usefixtures("restored")


def test_a_run_start_installs_the_hooks_and_writes_the_buffered_records(exp: runlog.Experiment) -> None:
    run = exp.start_logging()
    excepthook.uninstall()
    driverlog.add_pending("before the run\n", {"early": 1.0}, 0)
    on_run_started(run)
    assert excepthook.installed() and sys.excepthook is excepthook._sys_hook
    lines = (run.path / "files" / "logs" / "driver_log.txt").read_text().splitlines()
    assert lines[0].endswith(f"1 record(s) logged before run {run.id} was active:")
    assert lines[1:] == ["before the run"]
    assert run.get_metrics() == {"early": 1.0}
    assert not driverlog.has_pending()


def test_nothing_buffered_writes_no_driver_log(exp: runlog.Experiment) -> None:
    run = exp.start_logging()
    on_run_started(run)
    assert not (run.path / "files" / "logs" / "driver_log.txt").exists()


def test_a_buffer_that_cannot_be_written_is_a_warning_not_an_error(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = exp.start_logging()
    driverlog.add_pending("lost\n")

    def full(run: runlog.Run) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(driverlog, "flush_pending", full)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("runlog.stdlib")
    logger.addHandler(handler)
    try:
        on_run_started(run)  # does not raise
    finally:
        logger.removeHandler(handler)
    (record,) = seen
    assert "could not write the records logged before run" in record.getMessage()
    assert "No space left on device" in record.getMessage()
    assert excepthook.installed()
