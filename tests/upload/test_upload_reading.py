"""runlog._upload._reading: the store read for upload, a chunk at a time, decoding only what is asked for."""

from __future__ import annotations

from typing import Any

import pytest

import runlog
from runlog._upload import _reading


def test_table_events_are_read_without_decoding_every_event(run: runlog.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """iter_metric_events(kinds=...) decodes only lines of those kinds: the MLflow target's table flush
    (every few seconds while a table grows) must not decode a run's million scalars each time."""
    for i in range(5000):
        run.log("loss", i)
        if i % 1000 == 0:
            run.log_row("eval", step=i, acc=i / 5000)
        run.log("note", f"text {i}")  # strings stay lines of the metrics file, among the tables
    run.log_table("roc", {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]})
    decoded: list[int] = []
    original = _reading.parse_columns

    def spy(data: bytes) -> Any:
        decoded.append(data.count(b"\n"))
        return original(data)

    def no_points(data: bytes, names: dict[int, str]) -> Any:
        raise AssertionError("the points were decoded although only tables were asked for")

    monkeypatch.setattr(_reading, "parse_columns", spy)
    monkeypatch.setattr(_reading, "decode_points", no_points)
    events = list(_reading.iter_metric_events(run.path, kinds=("r", "t")))
    assert [(k, n) for k, n, _ in events] == [("r", "eval")] * 5 + [("t", "roc")]
    assert events[1][2] == {"step": 1000, "acc": 0.2}
    assert sum(decoded) == 6


def test_iter_metric_events_includes_points_merged_by_time(run: runlog.Run) -> None:
    """With kinds None or containing 's', the points are events too, in time order with the lines; never 'n' lines."""
    run.log("a", 1.0)
    run.log("s", "one")
    run.log("a", 2)
    run.log_row("t", x=1)
    run.log("a", True)
    everything = list(_reading.iter_metric_events(run.path))
    assert everything == [("s", "a", 1.0), ("s", "s", "one"), ("s", "a", 2), ("r", "t", {"x": 1}), ("s", "a", True)]
    assert list(_reading.iter_metric_events(run.path, kinds=("s",), chunk=40)) == [e for e in everything if e[0] == "s"]
    assert list(_reading.iter_metric_events(run.path, kinds=("r",))) == [("r", "t", {"x": 1})]
