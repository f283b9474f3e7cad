"""runlog._store.writer: the one writer of a run in a process (points, JSON lines, meta events, logs, files)."""

from __future__ import annotations

import io
import logging
import os
import struct
import time
from pathlib import Path

import pytest

import runlog
from runlog import Experiment, InvalidArgumentError, InvalidMetricValue, StoreError
from runlog._store import layout
from runlog._store import writer as writer_module
from runlog._store.reader import RunReader
from runlog._store.records import pack_float
from runlog._store.writer import RunWriter, _pack_known, writer_for


def test_a_replaced_live_log_is_noticed_by_the_writer(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 9: a live log replaced behind the writer's back (another inode) is reported once and written again."""
    import runlog._store.writer as writer_module

    clock = [2e9]
    monkeypatch.setattr(writer_module, "_now", lambda: clock[0])
    run = exp.start_logging(outputs=None)
    writer = run._writer
    writer.write_log("one\n")
    path = run.path / layout.FILES_DIR / layout.DRIVER_LOG
    replacement = path.with_name("other.txt")
    replacement.write_text("replaced\n")
    os.replace(replacement, path)
    with caplog.at_level(logging.WARNING, logger="runlog"):
        for i in range(3):
            clock[0] += 2
            writer.write_log(f"line {i}\n")
    assert path.read_text() == "replaced\nline 0\nline 1\nline 2\n"
    assert sum("was replaced" in r.getMessage() for r in caplog.records) == 1
    run.complete()


def test_a_write_racing_with_the_runs_end_never_lands_in_another_run(exp: Experiment) -> None:
    """A line whose writer read the descriptor just before the run ended goes to that run (or nowhere), never to the next run's files."""
    first = exp.start_logging()
    first.log("loss", 1.0)
    first.log("phase", "a")
    # what a logging thread holds between reading a descriptor and writing
    fd, points_fd = first._writer._metrics_fd, first._writer._points_fd
    first.complete()
    second = exp.start_logging()
    second.log("acc", 0.5)
    second.tag("k", "v")
    for late_fd, data in ((fd, b'["s","loss",2.0,null,1.0]\n'), (points_fd, pack_float(0, 2.0, 0, 1.0))):
        try:
            RunWriter._write(late_fd, data)  # the thread's write, a moment late
        except StoreError:
            pass  # dropped: acceptable for a line logged as its run ended
    for path in (second.path / layout.EVENTS_DIR).iterdir():
        assert b"loss" not in path.read_bytes(), path.name
    assert second.get_metrics() == {"acc": 0.5}


def test_a_late_write_after_two_runs_ended_never_lands_in_a_third_run(exp: Experiment) -> None:
    """A thread that read a run's points descriptor, then stalled while that run and the next one ended,
    writes into the old file (still open for RETIRE_SECONDS), never into the newest run's reused descriptor."""
    first = exp.start_logging()
    first.log("loss", 1.0)
    held = first._writer._points_fd
    first.complete()
    second = exp.start_logging()
    second.log("acc", 0.5)
    second.complete()  # the second close: the first run's descriptors are not closed yet
    third = exp.start_logging()
    third.log("acc", 0.25)
    RunWriter._write(held, pack_float(0, 2.0, -(1 << 63), time.time()))
    assert third.get_metrics() == {"acc": 0.25}
    assert first.get_metrics() == {"loss": [1.0, 2.0]}
    third.complete()


def test_writer_for_is_one_writer_per_run_folder(tmp_path: Path) -> None:
    assert writer_for(tmp_path / "a") is writer_for(tmp_path / "a")
    assert writer_for(tmp_path / "a") is not writer_for(tmp_path / "b")


def test_numbers_are_points_and_other_values_json_lines(exp: Experiment) -> None:
    run = exp.start_logging()
    writer = run._writer
    writer.scalar("f", 0.5, 1)
    writer.scalar("i", 3)
    writer.scalar("b", True)
    writer.scalar("none", None)
    writer.scalar("s", "text", 2)
    writer.scalar("big", 2**70)
    writer.scalar("far", 1.0, 2**64)  # a step beyond int64
    events = RunReader(run.path)
    points = next((run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX)).stat().st_size
    assert points == 4 * layout.POINT_SIZE
    got = {e[1]: (e[2], e[3]) for e in events.metric_events()}
    assert got == {"f": (0.5, 1), "i": (3, None), "b": (True, None), "none": (None, None), "s": ("text", 2),
                   "big": (2**70, None), "far": (1.0, 2**64)}  # fmt: skip


def test_a_bad_name_or_step_is_refused_before_anything_is_written(exp: Experiment) -> None:
    run = exp.start_logging()
    with pytest.raises(InvalidMetricValue, match="metric name must be a non-empty str"):
        run._writer.scalar("", 1.0)
    with pytest.raises(InvalidMetricValue, match="step must be an int"):
        run._writer.scalar("x", 1.0, 1.5)
    with pytest.raises(InvalidMetricValue, match="step must be an int"):
        run._writer.scalars({"x": 1.0, "y": "a"}, "one")
    assert RunReader(run.path).metric_events() == []


def test_scalars_and_groups_keep_the_order_and_steps(exp: Experiment) -> None:
    run = exp.start_logging()
    writer = run._writer
    writer.scalars({"a": 1.0, "b": 2})
    writer.scalar_groups([({"a": 3.0, "b": 4}, 1, 1.0), ({"a": "text"}, 2, 2.0), ({"a": 5.0}, None, 3.0), ({"c": 6.0}, 3, 4.0)])
    events = [e[1:4] for e in RunReader(run.path).metric_events()]
    points = [e for e in events if e[1] != "text"]  # (the points file in written order)
    assert points == [["a", 1.0, None], ["b", 2, None], ["a", 3.0, 1], ["b", 4, 1], ["a", 5.0, None], ["c", 6.0, 3]]
    assert ["a", "text", 2] in events  # a str: a JSON line of the metrics file


def test_pack_gives_the_bytes_of_pack_known_for_any_sequence_of_groups(exp: Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """RunWriter._pack (compiled packers per group of names) packs what _pack_known packs, and refuses
    what it refuses: the same group again, groups taking turns, a group in another order, classes
    that change, names not defined, names defined anew (new ids), more groups than it compiles for."""
    run = exp.start_logging()
    writer = run._writer
    writer.scalars({"a": 0.0, "b": 0, "c": 0.0})  # (defines the names: ids 0, 1, 2)
    monkeypatch.setattr(writer_module, "_MAX_PACKERS", 3)
    groups = [
        {"a": 1.0, "b": 2}, {"a": 1.5, "b": 3}, {"c": 4.0}, {"a": 5.0, "b": 6}, {"b": 7, "a": 8.0},
        {"a": 9, "b": 10}, {"a": 11.0, "b": 12.5}, {"a": 1.0}, {"b": 2}, {"c": 3.0, "a": 4.0},
        {"a": 2.0, "b": 2**63 - 1}, {"a": 2.0, "b": 2**63}, {"a": True}, {"d": 1.0}, {"a": 1.0, "b": 2},
    ]
    for i, values in enumerate(groups * 2):
        expected: bytes | type[Exception]
        try:
            expected = _pack_known(writer._ids, values, i, 100.0 + i)
        except (KeyError, struct.error) as exc:
            expected = type(exc)
        if isinstance(expected, bytes):
            got = writer._pack(values, i, 100.0 + i)
            # A group met in another order than compiled: the same records, in the compiled order.
            assert sorted(_split(got)) == sorted(_split(expected)), values
            if list(values) == ["a", "b"] or len(values) == 1:
                assert got == expected
        else:
            with pytest.raises(expected):
                writer._pack(values, i, 100.0 + i)
    assert len(writer._packers) == 3  # (_MAX_PACKERS; the other groups packed by _pack_known)
    writer._forget_ids()  # names defined anew (a new points file): the packers go with the old ids
    writer._ids.update({"b": 7, "a": 9})
    assert writer._pack({"a": 1.0, "b": 2}, 1, 2.0) == pack_float(9, 1.0, 1, 2.0) + _pack_known({"b": 7}, {"b": 2}, 1, 2.0)
    assert list(writer._packers) == [("a", "b")]


def _split(data: bytes) -> list[bytes]:
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def test_groups_keep_their_own_times_around_one_written_the_careful_way(exp: Experiment) -> None:
    """Each group of a batch is stored with its own time (an exported record's), a text value in the middle
    (another file) too: the metric reads back in the order and with the times it was logged."""
    run = exp.start_logging()
    groups = [({"a": 1.0}, None, 100.0), ({"a": 3.0}, None, 100.5), ({"a": "text"}, None, 101.0), ({"a": 5.0}, 2, 101.5)]
    run._writer.scalar_groups(groups)
    events = [e[1:5] for e in RunReader(run.path).metric_events() if e[1] == "a"]
    assert events == [["a", 1.0, None, 100.0], ["a", 3.0, None, 100.5], ["a", "text", None, 101.0], ["a", 5.0, 2, 101.5]]


def test_points_keep_their_own_times(exp: Experiment) -> None:
    run = exp.start_logging()
    run._writer.points([("a", 1.0, 0, 100.0), ("a", "x", None, 101.0), ("b", 2, 1, 99.0)])
    events = RunReader(run.path).metric_events()
    # each file keeps its written order (a clock that went back is merged, not sorted)
    assert [(e[1], e[2], e[3], e[4]) for e in events] == [
        ("a", 1.0, 0, 100.0),
        ("b", 2, 1, 99.0),
        ("a", "x", None, 101.0),
    ]


def test_metric_and_meta_events(exp: Experiment) -> None:
    run = exp.start_logging()
    writer = run._writer
    writer.metric("l", "list", "[1,2]", 4, at=5.0)
    writer.meta("tag", "team", {"not": "a str"})  # any value is JSON (a reader skips a wrong-typed tag)
    writer.meta("tag", "k", "v")
    assert RunReader(run.path).metric_events() == [["l", "list", [1, 2], 4, 5.0]]
    assert RunReader(run.path).state().tags == {"k": "v"}


def test_meta_of_a_run_not_kept_open_closes_its_file(exp: Experiment) -> None:
    run = exp.start_logging()
    run.complete()
    writer = RunWriter(run.path)
    writer.meta("tag", "late", "yes", keep_open=False)
    assert writer._meta_fd == -1
    assert RunReader(run.path).state().tags == {"late": "yes"}


def test_logs_are_appended_and_lone_surrogates_kept_as_escapes(exp: Experiment) -> None:
    run = exp.start_logging()
    run._writer.write_log("one\n")
    run._writer.write_log("bad \ud800\n", "logs/other.txt")
    files = run.path / layout.FILES_DIR
    assert (files / layout.DRIVER_LOG).read_text() == "one\n"
    assert (files / "logs/other.txt").read_text() == "bad \\ud800\n"
    assert run._writer.reopen_log("logs/never_opened.txt") is False


def test_add_file_from_paths_and_streams(exp: Experiment, tmp_path: Path) -> None:
    run = exp.start_logging()
    source = tmp_path / "a.bin"
    source.write_bytes(b"\x00\x01")
    writer = run._writer
    assert writer.add_file("outputs\\a.bin", source) == "outputs/a.bin"
    writer.add_file("outputs/b.txt", io.StringIO("text"))
    writer.add_file("outputs/c.bin", io.BytesIO(b"bytes"))
    files = run.path / layout.FILES_DIR
    assert (files / "outputs/a.bin").read_bytes() == b"\x00\x01"
    assert (files / "outputs/b.txt").read_text() == "text" and (files / "outputs/c.bin").read_bytes() == b"bytes"
    with pytest.raises(FileNotFoundError, match="no such file"):
        writer.add_file("outputs/d", tmp_path / "missing")
    with pytest.raises(IsADirectoryError, match="upload_folder"):
        writer.add_file("outputs/d", tmp_path)
    assert sorted(p.name for p in (files / "outputs").iterdir()) == ["a.bin", "b.txt", "c.bin"]


def test_a_live_log_cannot_be_uploaded_over(exp: Experiment) -> None:
    run = exp.start_logging()
    writer = run._writer
    assert writer.check_upload_name("logs/driver_log.txt") == "logs/driver_log.txt"  # not written yet
    writer.write_log("x\n", "logs/mine.txt")
    writer.write_log("y\n")
    for name in ("logs/mine.txt", "logs/driver_log.txt"):
        with pytest.raises(InvalidArgumentError, match="is a live log"):
            writer.check_upload_name(name)


def test_retired_descriptors_are_closed_once_their_time_has_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    read, write = os.pipe()
    monkeypatch.setattr(writer_module, "RETIRE_SECONDS", 3600.0)
    writer_module._retire([write])
    os.fstat(write)  # still open: a late write may hold it
    monkeypatch.setattr(writer_module, "RETIRE_SECONDS", 0.0)
    writer_module._retire([])
    with pytest.raises(OSError):
        os.fstat(write)
    os.close(read)


def test_a_removed_run_folder_is_noticed_at_the_next_watch(exp: Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    clock = [2e9]
    monkeypatch.setattr(writer_module, "_now", lambda: clock[0])
    run = exp.start_logging(strict=True)
    run.log("x", 1.0)
    shutil.rmtree(run.path)
    run.log("x", 2.0)  # within the second: not looked at yet (the write lands in the removed file)
    clock[0] += writer_module.WATCH_SECONDS
    with pytest.raises(StoreError, match="was removed"):
        run.log("x", 3.0)
    run._finished = True


def test_a_runlog_store_logger_sees_no_warning_for_ordinary_writes(
    exp: Experiment, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="runlog.store"):
        run = exp.start_logging()
        run.log("a", 1.0)
        run.complete()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert runlog.Run(exp, run.id).get_metrics() == {"a": 1.0}
