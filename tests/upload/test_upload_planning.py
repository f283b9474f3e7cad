"""runlog._upload._planning: what a pass sends, read from the store at the cursor and cut into batches."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from upload_helpers import MemoryTarget, point, uploader

import runlog
from runlog._upload import MetricEvent
from runlog._upload._cursor import FileCursor, UploadCursor
from runlog._upload._planning import BATCH_BYTES, Planner


def test_steps_are_derived_from_the_store_not_from_upload_order(run: runlog.Run) -> None:
    """No step: previous step + 1 per name; lists take consecutive steps; rows count per table."""
    run.log("a", 1.0)
    run.log("a", 2.0, step=10)
    run.log("a", 3.0)
    run.log_list("l", [1, 2, 3])
    run.log_list("l", [4])
    run.log_row("t", x=1)
    run.log_table("t", {"x": [2, 3]})
    run.log_row("t", x=4)
    target = MemoryTarget()
    uploader(run, target).sync()
    seqs = {(e.name, e.kind): [] for call in target.metric_calls for e in call}  # type: dict[tuple[str, str], list[int]]
    for call in target.metric_calls:
        for e in call:
            seqs[(e.name, e.kind)].append(e.seq)
    assert seqs[("a", "s")] == [0, 10, 11]
    assert seqs[("l", "l")] == [0, 3]
    assert seqs[("t", "r")] == [0, 3] and seqs[("t", "t")] == [1]


def test_batches_respect_the_target_limit_and_a_small_read_chunk(run: runlog.Run) -> None:
    """max_points bounds each batch; a small read chunk bounds memory and still sends everything once."""
    for i in range(1000):
        run.log("a", i)
    run.log_list("big", list(range(25)))  # one event larger than a batch goes alone
    target = MemoryTarget(max_points=64)
    uploader(run, target, read_chunk=4096).sync()
    assert [p[1] for p in target.points() if p[0] == "a"] == list(range(1000))
    assert all(sum(len(e.value) if e.kind == "l" else 1 for e in call) <= 64 for call in target.metric_calls)
    assert len(target.metric_calls) > 1000 // 64


def test_a_torn_last_line_waits_for_its_end(run: runlog.Run) -> None:
    """A half-written line (a writer mid-write) is not sent, and not skipped either."""
    run.log("a", 1)
    events_file = next((run.path / "events").glob("*.metrics.jsonl"))
    with open(events_file, "ab") as fh:
        fh.write(b'["s","a",2,null,')
    target = MemoryTarget()
    up = uploader(run, target)
    up.sync()
    assert [p[1] for p in target.points()] == [1]
    with open(events_file, "ab") as fh:
        fh.write(b"1717000000.5]\n")
    up.sync()
    assert [p[1] for p in target.points()] == [1, 2]


def test_a_file_that_keeps_growing_does_not_starve_the_rest_of_the_pass(run: runlog.Run) -> None:
    """A pass sends what an events file held when the pass began; events logged meanwhile wait for the next pass.

    Otherwise a training loop that logs as fast as the server takes it keeps the uploader on
    that one file: tags, files, other processes' events and the final status never go.
    """
    for i in range(5):
        run.log("a", i)
    run.tag("t", "v")
    appended = []

    class Racing(MemoryTarget):
        def send_metrics(self, events: Sequence[MetricEvent]) -> None:
            super().send_metrics(events)
            if len(appended) < 200:  # the loop logs on while each batch travels
                appended.append(1)
                run.log("a", 100 + len(appended))

    target = Racing(max_points=1)
    up = uploader(run, target)
    assert up._try_lock()
    up.step()
    assert [p[1] for p in target.points()] == [0, 1, 2, 3, 4]
    assert [e.key for c in target.meta_calls for e in c if e.kind == "tag"] == ["t"]
    up.step()  # the next pass picks up what was logged during the first one
    assert [p[1] for p in target.points()][:10] == [0, 1, 2, 3, 4, 101, 102, 103, 104, 105]
    up._unlock()


def test_a_point_without_a_name_is_skipped_and_the_rest_flows(run: runlog.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record whose id no "n" line of its metrics file defines (the line lost to a half-failed write) is
    skipped, as readers skip it: the points around it are sent once, in order, with their own seqs, and the
    cursor passes it. Names are re-read only for an id not seen before."""
    from runlog._upload import _planning

    events = run.path / "events"
    events.mkdir(exist_ok=True)
    metrics = events / "h-9-abc.metrics.jsonl"
    points = events / "h-9-abc.points.bin"
    first_line = '["n","a",0,null,1.0]\n'
    metrics.write_text(first_line)
    points.write_bytes(
        point(0, 1.0, None, 1.0) + point(0, 2.0, None, 2.0) + point(1, 3.0, None, 3.0) + point(0, 4.0, None, 4.0)
    )
    scans: list[int] = []
    original = _planning.scan_point_names

    def spy(path: Path, offset: int, names: dict[int, str], chunk: int) -> int:
        scans.append(offset)
        return original(path, offset, names, chunk)

    monkeypatch.setattr(_planning, "scan_point_names", spy)
    target = MemoryTarget()
    up = uploader(run, target)
    up.sync()
    assert [(e.name, e.value, e.seq) for c in target.metric_calls for e in c] == [
        ("a", 1.0, 0),
        ("a", 2.0, 1),
        ("a", 4.0, 2),
    ]
    assert UploadCursor.load(run.path, "memory-test").metrics[points.name].offset == 4 * 32
    assert up.pending().metric_events == 0
    calls = len(target.metric_calls)
    up.sync()
    assert len(target.metric_calls) == calls  # nothing sent twice
    with open(metrics, "a") as fh:
        fh.write('["n","b",2,null,5.0]\n')
    with open(points, "ab") as fh:
        fh.write(point(2, 5.0, None, 5.0) + point(0, 6.0, None, 6.0))
    up.sync()
    assert [(e.name, e.value, e.seq) for e in target.metric_calls[-1]] == [("b", 5.0, 0), ("a", 6.0, 3)]
    assert scans == [0, len(first_line)]  # read on from where the last scan stopped, only for new ids
    with open(points, "ab") as fh:
        fh.write(point(2, 7.0, None, 7.0))
    up.sync()
    assert target.metric_calls[-1][0].value == 7.0
    assert len(scans) == 2  # known ids only: the metrics file is not read again


def test_a_torn_last_point_waits_for_its_end(run: runlog.Run) -> None:
    """A record cut short (its writer mid-write) is neither sent nor skipped; it is sent once it is whole."""
    run.log("a", 1.0)
    points = next((run.path / "events").glob("*.points.bin"))
    record = point(0, 2.0, None, 1717000000.5)
    with open(points, "ab") as fh:
        fh.write(record[:20])
    target = MemoryTarget()
    up = uploader(run, target)
    up.sync()
    assert [p[1] for p in target.points()] == [1.0]
    assert UploadCursor.load(run.path, "memory-test").metrics[points.name].offset == 32
    assert up.pending().metric_events == 0 and not up.pending()
    with open(points, "ab") as fh:
        fh.write(record[20:])
    assert up.pending().metric_events == 1
    up.sync()
    assert target.points() == [("a", 1.0, 0, target.points()[0][3]), ("a", 2.0, 1, 1717000000.5)]


def test_step_less_points_are_numbered_per_name_from_0(run: runlog.Run) -> None:
    """Each name counts its own step-less points 0, 1, 2, ...; an explicit step moves that name's counter only."""
    for i in range(4):
        run.log("a", float(i))
        run.log("b", i)
        if i == 1:
            run.log("c", 0.5, step=5)
            run.log("c", 0.6)
    target = MemoryTarget(max_points=3)
    up = uploader(run, target)
    up.sync()
    seqs: dict[str, list[int]] = {}
    for e in (e for call in target.metric_calls for e in call):
        seqs.setdefault(e.name, []).append(e.seq)
    assert seqs == {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3], "c": [5, 6]}
    run.log("a", 9.0)  # a later pass (and a later uploader) goes on counting from the cursor
    later = MemoryTarget()
    uploader(run, later).sync()
    assert [(e.name, e.seq) for c in later.metric_calls for e in c] == [("a", 4)]


def test_each_kind_gets_its_seq_from_the_file_cursor() -> None:
    """Scalars and images: their step, else the name's next one; lists take one step per element; rows and tables
    count rows; a kind this version does not know gets none."""
    work = FileCursor()
    assign = Planner._assign
    assert [assign(work, "s", "a", 1.0, None), assign(work, "s", "a", 1.0, 10), assign(work, "s", "a", 1.0, None)] == [
        0,
        10,
        11,
    ]
    assert assign(work, "s", "a", 1.0, True) == 12  # a bool is no step
    assert assign(work, "i", "img", "f.png", None) == 0
    assert [assign(work, "l", "l", [1, 2, 3], None), assign(work, "l", "l", [4], None)] == [0, 3]
    assert [assign(work, "r", "t", {"x": 1}, None), assign(work, "t", "t", {"x": [1, 2], "y": [3]}, None)] == [0, 1]
    assert assign(work, "r", "t", {"x": 1}, None) == 3
    assert assign(work, "z", "q", 1, None) is None
    assert work.next_step == {"a": 13, "img": 1, "l": 4} and work.next_row == {"t": 4}


def test_a_batch_is_also_cut_by_its_size(run: runlog.Run) -> None:
    """Besides max_points, a batch holds about BATCH_BYTES of events files at most."""
    text = "x" * 4096
    for _ in range(300):  # ~1.2 MB of string events
        run.log("s", text)
    target = MemoryTarget(max_points=10_000)
    uploader(run, target).sync()
    assert sum(len(c) for c in target.metric_calls) == 300
    assert len(target.metric_calls) >= 3
    assert all(len(c) * 4096 <= BATCH_BYTES + 8192 for c in target.metric_calls)


def test_meta_events_and_files_are_sent_once_until_they_change(run: runlog.Run, tmp_path: Path) -> None:
    run.tag("k", "v")
    run.add_properties({"p": "1"})
    (tmp_path / "a.txt").write_text("one")
    run.upload_file("outputs/a.txt", str(tmp_path / "a.txt"))
    target = MemoryTarget()
    up = uploader(run, target)
    up.sync()
    assert target.files["outputs/a.txt"] == b"one"
    keys = [e.key for c in target.meta_calls for e in c]
    assert "k" in keys and "p" in keys
    before = len(target.meta_calls)
    up.sync()
    assert len(target.meta_calls) == before  # nothing new: nothing sent again
    (run.path / "files" / "outputs" / "a.txt").write_text("two")
    up.sync()
    assert target.files["outputs/a.txt"] == b"two"
