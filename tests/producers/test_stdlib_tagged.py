"""RunHandler's tagged records (runlog.stdlib): whichever way a record's values go (packed and written in
``handle``, or the careful way through ``_write_slow``), each is stored once, with its class, its step and
its record's time; a points write that fails in ``handle`` costs that record's values only."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _fd_helpers import failing_writes
from _logging_helpers import restored_logging

import runlog
from runlog._store import layout
from runlog._store.reader import RunReader

NO_STEP = layout.NO_STEP


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    with restored_logging():
        yield


def _tagged_logger(
    exp: runlog.Experiment, handler_class: type[runlog.RunHandler]
) -> tuple[runlog.Run, runlog.RunHandler, logging.Logger, list[float]]:
    """A run, a RunHandler as the only handler of a logger, and the ``created`` of the records that took
    ``_write_slow`` (the careful way)."""
    run = exp.start_logging()
    handler = handler_class()
    log = logging.getLogger("tagged.paths")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    slow: list[float] = []
    careful = handler._write_slow

    def spy(record: logging.LogRecord, *args: Any) -> None:
        slow.append(record.created)
        careful(record, *args)

    handler._write_slow = spy  # type: ignore[method-assign]
    return run, handler, log, slow


def _emit(log: logging.Logger, values: dict[str, Any], step: Any, created: float) -> None:
    record = log.makeRecord(log.name, logging.INFO, __file__, 1, "m", (), None, extra={"metrics": values, "step": step})
    record.created = created
    log.handle(record)


# (values, step, the careful way?) in this order: each case meets the packers the ones before it left.
CASES: list[tuple[dict[str, Any], Any, bool]] = [
    ({"a": 1.0, "b": 2}, 1, True),  # new names: defined the careful way, a packer compiled
    ({"a": 1.5, "b": 3}, 2, False),  # the last packer
    ({"a": 2, "b": 4}, 3, False),  # other classes: another packer, compiled in handle
    ({"a": 2.5, "b": 1 << 70}, 4, True),  # an int beyond 64 bits: stored as text
    ({"a": True, "b": 6}, 5, True),  # a bool
    ({"a": "text", "b": 7}, 6, True),  # a str
    ({"c": 1.0, "d": 2.0}, 7, True),  # new names, as many as the last group's
    ({"a": 3.5, "b": 8}, 8, False),  # the first group again (taking turns)
    ({"c": 3.0, "d": 4.0}, 9, False),
    ({"a": 6.5, "b": 11}, None, False),  # no step
    ({"a": 7.5, "b": 12}, NO_STEP, True),  # the step that means "none" in a points record, given as a step
    ({"a": 8.5, "b": 13}, 1 << 70, True),  # a step beyond 64 bits
    ({"b": 14, "a": 9.5}, 15, False),  # the names in another order
    ({"a": 10.5}, 16, False),  # fewer names
]


def test_every_tagged_value_is_stored_once_with_its_step_and_record_time_whatever_its_path(
    exp: runlog.Experiment, handler_class: type[runlog.RunHandler]
) -> None:
    """Records in one second (no once-a-second check due): numbers under names stored before with an int or no
    step are packed and written in ``handle``; anything else goes the careful way; every value reads back once."""
    run, _handler, log, slow = _tagged_logger(exp, handler_class)
    base = time.time()
    _emit(log, {"warm": 0.0}, 0, base)  # (the first record opens the run's files and does the check)
    times = [base + i / 100 for i in range(1, len(CASES) + 1)]
    for (values, step, _careful), created in zip(CASES, times):
        _emit(log, values, step, created)
    events = [(e[1], e[2], e[3], e[4]) for e in RunReader(run.path).metric_events() if e[1] != "warm"]
    want = [(k, v, step, created) for (values, step, _), created in zip(CASES, times) for k, v in values.items()]
    assert sorted(events, key=repr) == sorted(want, key=repr)
    assert [type(e[1]) for e in sorted(events, key=repr)] == [type(w[1]) for w in sorted(want, key=repr)]
    assert [round((t - base) * 100) for t in slow] == [0] + [i for i, (_, _, careful) in enumerate(CASES, 1) if careful]
    run.complete()


@pytest.mark.parametrize("failure", ["short write", "disk full"])
def test_a_points_write_that_fails_in_handle_loses_that_records_values_only(
    exp: runlog.Experiment, handler_class: type[runlog.RunHandler], failure: str
) -> None:
    """The points write made in ``handle`` cut short, or refused (disk full): the handler reports it through
    handleError and goes on; the line of that record and the values before and after it are kept, and the
    points files hold whole records only. (Failed under the descriptor: the C ``handle`` calls write(2).)"""
    run, handler, log, _slow = _tagged_logger(exp, handler_class)
    errors: list[logging.LogRecord] = []
    handler.handleError = errors.append  # type: ignore[assignment,method-assign]
    base = time.time()
    _emit(log, {"loss": 1.0, "acc": 0.0}, 0, base)
    _emit(log, {"loss": 0.9, "acc": 0.1}, 1, base + 0.001)
    with failing_writes(run._writer._points_fd, failure):
        _emit(log, {"loss": 0.8, "acc": 0.2}, 2, base + 0.002)
    assert len(errors) == 1
    for step in (3, 4):
        _emit(log, {"loss": 1.0 - step / 10, "acc": step / 10}, step, base + step * 2)  # past the once-a-second check
    assert [p.step for p in run.get_metric_history("loss")] == [0, 1, 3, 4]
    assert (run.path / "files" / "logs" / "driver_log.txt").read_text().count(":tagged.paths:m\n") == 5
    points = list((run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))
    assert points and all(p.stat().st_size % layout.POINT_SIZE == 0 for p in points)
    run.complete()


@pytest.mark.parametrize("failure", ["short write", "disk full"])
def test_a_line_write_that_fails_in_handle_is_reported_and_its_values_are_not_stored(
    exp: runlog.Experiment, handler_class: type[runlog.RunHandler], failure: str
) -> None:
    """The line's write made in ``handle`` cut short or refused: the rest is tried the careful way, the
    failure reported once through handleError, the record's values not stored (its line is not whole);
    once the disk takes writes again the next records and their values are written, with a line saying
    how many records were lost."""
    run, handler, log, _slow = _tagged_logger(exp, handler_class)
    errors: list[logging.LogRecord] = []
    handler.handleError = errors.append  # type: ignore[assignment,method-assign]
    base = time.time()
    _emit(log, {"loss": 1.0}, 0, base)
    _emit(log, {"loss": 0.9}, 1, base + 0.001)
    with failing_writes(run._writer._log_fds["logs/driver_log.txt"], failure):
        _emit(log, {"loss": 0.8}, 2, base + 0.002)
    assert len(errors) == 1
    for step in (3, 4):
        _emit(log, {"loss": 1.0 - step / 10}, step, base + step * 2)  # past the once-a-second check: recovered
    assert [p.step for p in run.get_metric_history("loss")] == [0, 1, 3, 4]
    text = (run.path / "files" / "logs" / "driver_log.txt").read_text()
    assert text.count(":tagged.paths:m\n") == 4
    assert "1 record(s) could not be written to this log" in text
    run.complete()
