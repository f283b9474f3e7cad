"""runlog._model.pending: the bounded queue of writes kept while the store cannot be written."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from runlog import StoreError
from runlog._model import pending as pending_module
from runlog._model.pending import PendingWrites, strict_from_env


class Store:
    """A write target that fails while ``full``, recording what it took."""

    def __init__(self) -> None:
        self.full = True
        self.written: list[tuple[Any, ...]] = []

    def write(self, *args: Any, at: float) -> None:
        if self.full:
            raise StoreError("No space left on device")
        self.written.append((*args, at))


def _keep(queue: PendingWrites, store: Store, n: int, name: str = "loss") -> None:
    for i in range(n):
        queue.keep(store.write, (name, float(i)), name, 100.0 + i, StoreError("full") if i == 0 else None)


@pytest.mark.parametrize(
    ("value", "strict"),
    [("1", True), ("yes", True), (" TRUE ", True), ("on", True), ("0", False), ("", False), ("no", False)],
)
def test_strict_from_env(monkeypatch: pytest.MonkeyPatch, value: str, strict: bool) -> None:
    monkeypatch.setenv("RUNLOG_STRICT", value)
    assert strict_from_env() is strict


@pytest.mark.parametrize(("value", "limit"), [("10", 10), ("-5", 0), ("many", 100_000)])
def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str, limit: int) -> None:
    monkeypatch.setenv("RUNLOG_PENDING_MAX", value)
    assert PendingWrites("r").limit == limit


def test_kept_writes_are_written_in_order_with_their_own_times(caplog: pytest.LogCaptureFixture) -> None:
    store, queue = Store(), PendingWrites("run-1", limit=100)
    with caplog.at_level(logging.WARNING, logger="runlog.run"):
        _keep(queue, store, 3)
        assert len(queue) == 3 and queue.failing
        assert queue.drain(force=True) is False  # still full: nothing lost, nothing written
        assert len(queue) == 3
        store.full = False
        assert queue.drain(force=True) is True
    assert store.written == [("loss", 0.0, 100.0), ("loss", 1.0, 101.0), ("loss", 2.0, 102.0)]
    assert len(queue) == 0 and not queue.failing and queue.written_late == 3
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "run run-1: cannot write to the store (full)" in messages[0]
    assert "takes writes again; 3 kept value(s) were written, none was lost" in messages[1]
    assert queue.report() is None


def test_beyond_the_limit_values_are_dropped_and_counted_per_name() -> None:
    store, queue = Store(), PendingWrites("r", limit=2)
    _keep(queue, store, 4, "loss")
    _keep(queue, store, 1, "acc")
    assert len(queue) == 2 and queue.kept_total == 2
    assert dict(queue.dropped) == {"loss": 2, "acc": 1}
    report = queue.report()
    assert report is not None and report.startswith("run r: 2 value(s) are still waiting in memory (full)")
    assert "3 value(s) were lost (the memory queue was full): loss (2), acc (1)" in report


def test_drain_is_tried_at_most_every_retry_interval_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(pending_module.time, "monotonic", lambda: clock[0])
    store, queue = Store(), PendingWrites("r", limit=10)
    _keep(queue, store, 1)
    store.full = False
    assert queue.drain() is False  # the first failure was just now
    clock[0] += pending_module.RETRY_SECONDS
    assert queue.drain() is True and len(store.written) == 1
    assert PendingWrites("r").drain() is True  # nothing kept: nothing to do


def test_a_value_the_writer_refuses_is_dropped_not_kept(caplog: pytest.LogCaptureFixture) -> None:
    written: list[Any] = []

    def write(value: Any, at: float) -> None:
        if value == "bad":
            raise ValueError("not a value")
        written.append(value)

    queue = PendingWrites("r", limit=10)
    queue.keep(write, ("bad",), "m", 1.0, StoreError("full"))
    queue.keep(write, ("good",), "m", 2.0, None)
    with caplog.at_level(logging.WARNING, logger="runlog.run"):
        assert queue.drain(force=True) is True
    assert written == ["good"] and dict(queue.dropped) == {"m": 1}
    assert any("a kept value of 'm' could not be written: not a value" in r.getMessage() for r in caplog.records)
