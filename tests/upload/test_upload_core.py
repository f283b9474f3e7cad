"""The uploader core with an in-memory target: cursor, deterministic steps, batching, give-up paths."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from upload_helpers import FAST, MemoryTarget, point, uploader

import runlog
from runlog._errors import UploadUnavailable
from runlog._store import writer_for
from runlog._upload import MetricEvent
from runlog._upload._core import Uploader
from runlog._upload._cursor import UploadCursor
from runlog._upload._delivery import TEST_EXIT_ENV
from runlog._upload._retry import UploadOptions


def test_a_resend_after_a_crash_carries_identical_points(run: runlog.Run) -> None:
    """Restoring an older cursor (a crash before saving) re-sends exactly the same (name, value, step, time)."""
    for i in range(30):
        run.log("a", float(i % 3))
    first = MemoryTarget(max_points=10)
    up = uploader(run, first)
    up.sync()
    cursor_path = UploadCursor.path_for(run.path, "memory-test")
    saved = json.loads(cursor_path.read_text())
    # Roll the cursor back to "after the first batch", as if the process died before saving the second.
    state = first.metric_calls[0]
    name = state[0].source
    saved["metrics"][name] = {"offset": 0, "next_step": {}, "next_row": {}}
    cursor_path.write_text(json.dumps(saved))
    second = MemoryTarget(max_points=10)
    uploader(run, second).sync()
    assert second.points() == first.points()


def test_events_files_of_several_processes_each_have_their_own_cursor(run: runlog.Run) -> None:
    """Two writer processes' files (metrics and points) are all sent, each with its own offsets and step counters."""
    run.log("a", 1)
    run.log("a", 2)
    run.log("s", "text")  # a string: a line of this process's metrics file
    own_metrics = next((run.path / "events").glob("*.metrics.jsonl"))
    own_points = next((run.path / "events").glob("*.points.bin"))
    other = run.path / "events" / "otherhost-1-abc.metrics.jsonl"
    other.write_text('["n","a",0,null,1.0]\n["s","a",10,null,1.0]\n["s","a",11,null,2.0]\n')
    other_points = run.path / "events" / "otherhost-1-abc.points.bin"
    other_points.write_bytes(point(0, 12.0, None, 3.0) + point(0, 13.0, None, 4.0))
    target = MemoryTarget()
    uploader(run, target).sync()
    by_source: dict[str, list[tuple[Any, int]]] = {}
    for call in target.metric_calls:
        for e in call:
            by_source.setdefault(e.source, []).append((e.value, e.seq))
    # step counters are per events file: each file numbers its own step-less values from 0
    assert by_source == {
        own_points.name: [(1, 0), (2, 1)],
        own_metrics.name: [("text", 0)],
        other.name: [(10, 0), (11, 1)],
        other_points.name: [(12.0, 0), (13.0, 1)],
    }
    cursor = UploadCursor.load(run.path, "memory-test")
    assert set(cursor.metrics) == {own_metrics.name, own_points.name, other.name, other_points.name}
    for path in (own_metrics, own_points, other, other_points):
        assert cursor.metrics[path.name].offset == path.stat().st_size  # each file caught up on its own
    assert cursor.metrics[own_points.name].next_step == {"a": 2}
    assert cursor.metrics[other.name].next_step == {"a": 2}
    assert cursor.metrics[other_points.name].next_step == {"a": 2}


def test_meta_events_files_and_final_status(run: runlog.Run) -> None:
    """Tags/properties go in batches of max_meta; files once per version; finish once with the end time."""
    for i in range(5):
        run.tag(f"t{i}", str(i))
    writer_for(run.path).write_log("hello\n")
    target = MemoryTarget(max_meta=2)
    up = uploader(run, target)
    up.sync()
    assert all(len(c) <= 2 for c in target.meta_calls)
    assert [e.key for c in target.meta_calls for e in c if e.kind == "tag"] == [f"t{i}" for i in range(5)]
    assert target.files == {"logs/driver_log.txt": b"hello\n"}
    assert target.finished == []  # still running
    run.complete()
    up.sync()
    up.sync()
    assert target.finished == [("Completed", run._reader.state().end_time)]


def test_unavailable_is_retried_until_it_works(run: runlog.Run) -> None:
    """UploadUnavailable is retried (backoff), nothing is lost or doubled."""
    run.log("a", 1)
    target = MemoryTarget()
    target.fail_metrics = [UploadUnavailable("down"), UploadUnavailable("down", retry_after=0.01)]
    uploader(run, target).sync()
    assert [p[1] for p in target.points()] == [1]


def test_logging_never_waits_for_a_stuck_target(run: runlog.Run, caplog: pytest.LogCaptureFixture) -> None:
    """While the target hangs, run.log keeps its local speed; finish() returns after its timeout."""
    target = MemoryTarget()
    target.block.clear()  # every send hangs
    up = uploader(run, target, finish_timeout=0.2).start()
    for i in range(5000):
        run.log("a", i)  # returns at once: nothing here touches the network
    assert target.metric_calls == []
    started = time.monotonic()
    assert up.finish(0.2) is False
    assert time.monotonic() - started < 5
    assert up.pending().metric_events == 5000
    target.block.set()


def test_only_one_uploader_per_run_and_target(run: runlog.Run) -> None:
    """The upload lock keeps a second uploader (e.g. a `runlog sync` in another process) out."""
    run.log("a", 1)
    first = uploader(run, MemoryTarget())
    assert first._try_lock()
    second_target = MemoryTarget()
    assert uploader(run, second_target).sync() is False
    assert second_target.metric_calls == []
    first._unlock()
    assert uploader(run, second_target).sync() is True


def test_an_unexpected_target_error_does_not_kill_the_uploader(
    run: runlog.Run, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a target is a WARNING; the background uploader tries again and finishes."""
    run.log("a", 1)
    target = MemoryTarget()
    target.fail_metrics = [RuntimeError("boom")]
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    up = uploader(run, target).start()
    run.complete()
    assert up.finish(5.0)
    assert [p[1] for p in target.points()] == [1]
    assert any("boom" in r.getMessage() for r in caplog.records)


def test_a_failure_that_repeats_every_pass_is_one_warning(run: runlog.Run, caplog: pytest.LogCaptureFixture) -> None:
    """The background uploader retries a target bug every pass; the same failure is a WARNING once, then DEBUG."""
    run.log("a", 1)
    target = MemoryTarget()
    up = uploader(run, target)
    target.fail_metrics = [RuntimeError("boom") for _ in range(5)]
    original = target.send_metrics

    def send(events: Sequence[MetricEvent]) -> None:
        if len(target.fail_metrics) == 1:
            up._final.set()  # the next pass is the last one
        original(events)

    target.send_metrics = send  # type: ignore[method-assign]
    caplog.set_level(logging.DEBUG, logger="runlog.upload")
    up._loop()  # the thread's body, in this thread: five failing passes, then the final one
    assert [p[1] for p in target.points()] == [1]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "boom" in r.getMessage()]
    assert len(warnings) == 1
    assert sum("boom" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG) >= 4


# -- numeric points (<proc>.points.bin) --------------------------------------------------------

CRASHING_UPLOADER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from runlog._upload import Uploader, UploadOptions

    class FileTarget:
        name, endpoint, max_points, max_meta = "memory-test", "memory://test", 7, 100

        def open(self, run, state):
            state.setdefault("run_id", "remote")

        def send_metrics(self, events):
            with open(sys.argv[2], "a") as fh:  # acknowledged = written before the call returns
                fh.write(json.dumps([list(e) for e in events]) + "\\n")

        def send_meta(self, events): pass
        def send_file(self, name, path): pass
        def flush(self, final): pass
        def finish(self, status, end_time): pass
        def close(self): pass

    Uploader(Path(sys.argv[1]), FileTarget(), UploadOptions(retry_initial=0.001)).sync()
    """
)


def test_points_are_sent_exactly_once_across_an_uploader_crash(run: runlog.Run, tmp_path: Path) -> None:
    """An uploader killed after a points batch was acknowledged, before its cursor save: the next one re-sends
    exactly that batch, identically (same seq, value, time), so a target that drops duplicates has every point once."""
    values: list[Any] = []
    for i in range(40):
        value: Any = [float(i), i, i % 2 == 0, None][i % 4]
        values.append(value)
        run.log("x", value)
        if i % 5 == 0:
            run.log("y", i * 0.5, step=100 + i)
    sent_file = tmp_path / "sent.jsonl"
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_UPLOADER, str(run.path), str(sent_file)],
        env={**os.environ, TEST_EXIT_ENV: "3"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 75, child.stderr  # the hook's exit after the 3rd acknowledged batch
    first = [MetricEvent(*e) for line in sent_file.read_text().splitlines() for e in json.loads(line)]
    assert len(first) == 21  # three batches of max_points=7
    points_file = next((run.path / "events").glob("*.points.bin")).name
    saved = UploadCursor.load(run.path, "memory-test").metrics[points_file]
    assert saved.offset == 14 * 32 and saved.next_step == {"x": 11, "y": 111}  # two saved batches: 11 x, 3 y

    second = MemoryTarget(max_points=7)
    uploader(run, second).sync()
    again = [e for call in second.metric_calls for e in call]
    assert again[:7] == first[14:]  # the unsaved batch, re-sent identically
    unique = {(e.source, e.name, e.seq): e for e in first + again}
    assert len(unique) == 48 == len(first) + len(again) - 7  # every point once, after dropping the exact duplicates
    xs = sorted((e for e in unique.values() if e.name == "x"), key=lambda e: e.seq)
    assert [e.value for e in xs] == values and [e.seq for e in xs] == list(range(40))
    assert [type(e.value) for e in xs[:4]] == [float, int, bool, type(None)]
    assert sorted(e.seq for e in unique.values() if e.name == "y") == [100 + i for i in range(0, 40, 5)]
    assert all(e.source.endswith(".points.bin") for e in unique.values())


def test_values_of_every_type_arrive_with_their_value_and_step(run: runlog.Run) -> None:
    """float (NaN, inf too), int, bool and None come from the points file; str and huge ints from the metrics file."""
    run.log("f", 1.5)
    run.log("f", float("inf"), step=7)
    run.log("i", -(2**63))
    run.log("i", 2**63 - 1, step=3)
    run.log("b", True)
    run.log("b", False)
    run.log("none", None)
    run.log("s", "text")
    run.log("big", 2**70)
    run.log("nan", float("nan"))
    target = MemoryTarget()
    uploader(run, target).sync()
    got = {
        (e.name, e.seq): (e.value, type(e.value), e.step, e.source.rsplit(".", 2)[-2])
        for c in target.metric_calls
        for e in c
    }
    assert got.pop(("nan", 0))[0] != got.get(("nan", 0))  # NaN (unequal to itself); checked below
    assert got == {
        ("f", 0): (1.5, float, None, "points"),
        ("f", 7): (float("inf"), float, 7, "points"),
        ("i", 0): (-(2**63), int, None, "points"),
        ("i", 3): (2**63 - 1, int, 3, "points"),
        ("b", 0): (True, bool, None, "points"),
        ("b", 1): (False, bool, None, "points"),
        ("none", 0): (None, type(None), None, "points"),
        ("s", 0): ("text", str, None, "metrics"),
        ("big", 0): (2**70, int, None, "metrics"),
    }
    nan = [e.value for c in target.metric_calls for e in c if e.name == "nan"]
    assert len(nan) == 1 and math.isnan(nan[0])
    local = run.get_metrics()
    assert local["b"] == [True, False] and local["i"] == [-(2**63), 2**63 - 1]


def test_the_remote_run_is_opened_once_and_its_id_kept_in_the_cursor(run: runlog.Run) -> None:
    """Before a pass the uploader knows no remote run; a sync opens it, and a later uploader reads it from the cursor."""
    run.log("a", 1)
    target = MemoryTarget()
    first = Uploader(run.path, target, UploadOptions(**FAST))
    assert (first.run_id, first.remote_run_id, first.wait_opened(0.01)) == (run.id, None, None)
    assert first.sync() and first.wait_opened(0.01) == f"remote-{run.id}" and target.opened == 1
    second = Uploader(run.path, MemoryTarget(), UploadOptions(**FAST))
    assert second.remote_run_id == f"remote-{run.id}" and second.cursor.remote == {"run_id": f"remote-{run.id}"}
