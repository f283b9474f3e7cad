"""runlog.ui.cache: each run's metrics parsed once, then only what was appended."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import runlog
from runlog._store import layout
from runlog.ui import cache as cache_module
from runlog.ui.cache import RunCache, Series, positions, safe_value, summarize
from runlog.ui.query import StoreQuery


def test_unchanged_events_files_are_not_parsed_again(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only appended bytes are parsed: a second runs() without writes parses nothing, a write parses one event.

    Numbers are points (32-byte records of the points file), strings are JSON lines: both are
    read incrementally.
    """
    run = runlog.Experiment(runlog.Workspace(store), "cache").start_logging(outputs=False)
    for i in range(100):
        run.log("loss", float(i))
        run.log("phase", f"p{i}")
    lines: list[int] = []
    records: list[int] = []
    real_parse, real_points = cache_module.parse_columns, cache_module.EventsFile._feed_points
    monkeypatch.setattr(
        cache_module,
        "parse_columns",
        lambda data, *source: lines.append(data.count(b"\n")) or real_parse(data, *source),
    )

    def feed_points(self: Any, data: bytes, *source: Any) -> None:
        records.append(len(data) // 32)
        real_points(self, data, *source)

    monkeypatch.setattr(cache_module.EventsFile, "_feed_points", feed_points)
    q = StoreQuery(store)
    metrics = q.runs()["runs"][0]["metrics"]
    assert (metrics["loss"]["count"], metrics["phase"]["count"]) == (100, 100)
    assert (lines, records) == ([101], [100])  # 100 strings + the "n" line naming loss; 100 points
    q.runs()
    assert (lines, records) == ([101], [100])
    run.log("loss", -1.0)
    row = q.runs()["runs"][0]["metrics"]["loss"]
    assert (lines, records) == ([101], [100, 1])
    assert (row["count"], row["last"], row["min"]) == (101, -1.0, -1.0)
    run.log("phase", "last")
    assert q.runs()["runs"][0]["metrics"]["phase"]["last"] == "last"
    assert (lines, records) == ([101, 1], [100, 1])
    run.complete()


def test_a_torn_last_line_is_not_shown_until_whole(store: Path) -> None:
    """A metric line being written (no newline yet) is invisible; once whole it is counted once."""
    run = runlog.Experiment(runlog.Workspace(store), "torn").start_logging(outputs=False)
    run.log("loss", 1.0)
    events = next((run.path / layout.EVENTS_DIR).glob("*" + layout.METRICS_SUFFIX))
    q = StoreQuery(store)
    with open(events, "ab") as fh:
        fh.write(b'["s","loss",0.5,null,')
        fh.flush()
        assert q.run(run.id)["metrics"]["loss"]["count"] == 1
        fh.write(b"1717000000.0]\n")
    loss = q.run(run.id)["metrics"]["loss"]
    assert (loss["count"], loss["min"]) == (2, 0.5)
    run.complete()


def test_a_torn_point_waits_and_a_point_without_a_name_is_skipped(store: Path) -> None:
    """Points: a half-written 32-byte record is invisible until whole; a record whose name id no "n" line
    defines (its line lost to a damaged metrics file) is skipped, and the points after it are shown."""
    from runlog._store.records import pack_float, pack_int

    run = runlog.Experiment(runlog.Workspace(store), "torn").start_logging(outputs=False)
    run.log("loss", 1.0)
    events = run.path / layout.EVENTS_DIR
    points = next(events.glob("*" + layout.POINTS_SUFFIX))
    q = StoreQuery(store)
    record = pack_float(0, 0.5, -(1 << 63), 1717000000.0)
    with open(points, "ab") as fh:
        fh.write(record[:20])
        fh.flush()
        assert q.run(run.id)["metrics"]["loss"]["count"] == 1
        fh.write(record[20:])
        fh.flush()
        loss = q.run(run.id)["metrics"]["loss"]
        assert (loss["count"], loss["min"]) == (2, 0.5)
        fh.write(pack_int(7, 1, 42, 3, 1717000001.0))  # id 7: never defined
        fh.write(pack_float(0, 0.25, -(1 << 63), 1717000002.0))
    found = q.run(run.id)["metrics"]
    assert set(found) == {"loss"}
    assert (found["loss"]["count"], found["loss"]["min"]) == (3, 0.25)
    run.complete()


def test_a_points_file_replaced_while_it_was_gone_is_read_again(store: Path) -> None:
    """The points file disappears (a refresh sees it gone) and comes back shorter: the viewer reads it from
    its start, as a fresh reader would, instead of from the old offset."""
    run = runlog.Experiment(runlog.Workspace(store), "replaced").start_logging(outputs=False)
    for i in range(10):
        run.log("loss", float(i))
    points = next((run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))
    saved = points.read_bytes()
    q = StoreQuery(store)
    assert q.series(run.id, "loss")["y"] == [float(i) for i in range(10)]
    points.rename(points.with_name(points.name + ".moved"))
    assert "loss" not in q.run(run.id)["metrics"]  # a refresh while it is gone
    points.write_bytes(saved[: 5 * 32])
    assert q.series(run.id, "loss")["y"] == StoreQuery(store).series(run.id, "loss")["y"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    run.complete()


def test_safe_value_makes_every_value_json_without_nan() -> None:
    value = {"a": [float("nan"), float("inf"), -float("inf"), 1.5], 2: {"b": None}, "s": "NaN"}
    assert safe_value(value) == {"a": ["NaN", "Infinity", "-Infinity", 1.5], "2": {"b": None}, "s": "NaN"}
    json.dumps(safe_value(value), allow_nan=False)


def test_a_series_keeps_gaps_min_max_and_whether_it_is_monotonic() -> None:
    s = Series("s")
    s.point(1.0, 5, 10.0)
    s.point(float("inf"), None, 11.0)  # no step: its index (1) is the x, which goes back: not monotonic
    s.point("text", 7, 12.0)
    s.point(float("nan"), 8, 13.0)
    assert list(s.xs) == [5.0, 1.0, 7.0, 8.0] and s.monotonic is False
    assert [y == y for y in s.ys] == [True, False, False, False]  # infinities, strings and NaN are gaps
    assert (s.min, s.max, s.count, s.last_time) == (1.0, float("inf"), 4, 13.0)
    assert s.last != s.last  # the last value is NaN, as logged


def test_bulk_scalars_give_what_point_by_point_gives() -> None:
    values = [3.0, float("nan"), -float("inf"), 2]
    steps = [0, 1, 2, 3]
    times = [1.0, 2.0, 3.0, 4.0]
    one, many = Series("s"), Series("s")
    for v, st, t in zip(values, steps, times):
        one.point(v, st, t)
    many.scalars(values, steps, times)
    for attr in ("xs", "ts", "count", "min", "max", "last", "last_time", "monotonic"):
        assert getattr(many, attr) == getattr(one, attr), attr
    assert [y == y for y in many.ys] == [y == y for y in one.ys] == [True, False, False, True]
    mixed = Series("s")
    mixed.scalars([1.0, "x"], [None, None], [1.0, 2.0])  # not all numbers: the point-by-point path
    assert mixed.count == 2 and list(mixed.xs) == [0.0, 1.0]


def test_rows_collect_their_columns_in_order() -> None:
    s = Series("r")
    s.add_rows([{"a": 1}, {"b": 2, "a": 3}], 5.0)
    assert list(s.columns) == ["a", "b"] and s.count == 2 and s.last == {"b": 2, "a": 3} and s.last_time == 5.0


def test_positions_and_the_summary_of_several_files() -> None:
    assert positions(["b", "a", "b", "c", "a"]) == {"b": [0, 2], "a": [1, 4], "c": [3]}
    first, second = Series("s"), Series("l")
    first.point(5.0, 0, 1.0)
    second.point(float("nan"), 0, 3.0)
    assert summarize([first, second]) == {"kind": "l", "count": 2, "last": "NaN", "min": 5.0, "max": 5.0}


def test_a_run_cache_reads_only_what_changed(store: Path) -> None:
    run = runlog.Experiment(runlog.Workspace(store), "c").start_logging(outputs=False)
    run.log("loss", 1.0)
    run.tag("k", "v")
    cache = RunCache("c", run.id, run.path)
    cache.refresh()
    assert cache.summaries()["loss"]["count"] == 1 and cache.state.tags == {"k": "v"}
    assert cache.summaries() is cache.summaries()  # unchanged files: the same summary object
    run.log("loss", 0.5)
    cache.refresh()
    assert cache.summaries()["loss"] == {"kind": "s", "count": 2, "last": 0.5, "min": 0.5, "max": 1.0}
    assert cache.ranks_by_name() == {"loss": []}  # a single process recorded no rank
    run.complete()
