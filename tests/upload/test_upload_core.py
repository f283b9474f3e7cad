"""The uploader core with an in-memory target: cursor, deterministic steps, batching, give-up paths."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from upload_helpers import MemoryTarget, point, uploader

import runlog
from runlog._errors import UploadUnavailable
from runlog._store import writer_for
from runlog._upload import MetricEvent, Target, UploadOptions
from runlog._upload._cursor import UploadCursor
from runlog._upload._delivery import TEST_EXIT_ENV
from runlog._upload._failure import UploadFailure
from runlog._upload._retry import call_with_retry


@pytest.fixture()
def run(exp: runlog.Experiment) -> runlog.Run:
    """A run with no tracking URI."""
    return exp.start_logging(outputs=False)


def test_memory_target_satisfies_the_protocol() -> None:
    """The Target protocol is small and checkable at runtime."""
    assert isinstance(MemoryTarget(), Target)


def test_cursor_moves_only_past_acknowledged_events_and_resumes(run: runlog.Run) -> None:
    """A second uploader starts where the first stopped: only new events are sent."""
    target = MemoryTarget()
    for i in range(10):
        run.log("a", i)
    assert uploader(run, target).sync()
    for i in range(10, 15):
        run.log("a", i)
    second = MemoryTarget()
    assert uploader(run, second).sync()
    assert [p[1] for p in second.points()] == list(range(10, 15))
    assert [p[2] for p in second.points()] == list(range(10, 15))  # steps continue from the cursor
    assert second.opened == 0  # the remote run came from the cursor
    saved = json.loads(UploadCursor.path_for(run.path, "memory-test").read_text())
    assert saved["remote"] == {"run_id": f"remote-{run.id}"} and saved["version"] == 1


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
        fh.write(b'1717000000.5]\n')
    up.sync()
    assert [p[1] for p in target.points()] == [1, 2]


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


def test_a_rejected_event_is_set_aside_and_the_rest_flows(run: runlog.Run, caplog: pytest.LogCaptureFixture) -> None:
    """Bisection isolates the rejected event; it lands in the dead-letter file; a WARNING names cause and fix."""
    for i in range(20):
        run.log("ok", i)
        if i == 13:
            run.log("bad", i)
    target = MemoryTarget()
    target.reject_names = {"bad"}
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    up = uploader(run, target)
    up.sync()
    assert [p[1] for p in target.points()] == list(range(20))
    assert up.stats.dead_letters == 1 and UploadCursor.load(run.path, "memory-test").dead_letters == 1
    lines = (run.path / "upload" / "memory-test.dead.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["items"][0]["name"] == "bad"
    assert any("rename it" in r.getMessage() and "'bad'" in r.getMessage() for r in caplog.records)


def test_unavailable_is_retried_until_it_works(run: runlog.Run) -> None:
    """UploadUnavailable is retried (backoff), nothing is lost or doubled."""
    run.log("a", 1)
    target = MemoryTarget()
    target.fail_metrics = [UploadUnavailable("down"), UploadUnavailable("down", retry_after=0.01)]
    uploader(run, target).sync()
    assert [p[1] for p in target.points()] == [1]


def test_call_with_retry_gives_up_when_aborted_or_after_max_attempts() -> None:
    """The abort event stops retrying (UploadAborted); max_attempts re-raises the last error."""
    options = UploadOptions(retry_initial=0.001, retry_max=0.001)
    calls = []

    def always_down() -> None:
        calls.append(1)
        raise UploadUnavailable("down")

    with pytest.raises(UploadUnavailable):
        call_with_retry(always_down, "x", options, max_attempts=3)
    assert len(calls) == 3
    abort = threading.Event()
    threading.Timer(0.05, abort.set).start()
    from runlog._upload._retry import UploadAborted

    with pytest.raises(UploadAborted):
        call_with_retry(always_down, "x", options, abort=abort)


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


def test_an_unexpected_target_error_does_not_kill_the_uploader(run: runlog.Run, caplog: pytest.LogCaptureFixture) -> None:
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

def test_the_last_failure_names_its_request_and_a_success_clears_it(run: runlog.Run) -> None:
    """Each failed attempt is recorded with the request it belonged to (a target bug too); the next success clears it."""
    run.log("a", 1)
    target = MemoryTarget()
    target.fail_metrics = [UploadUnavailable("w: HTTP 503: busy", status=503)]
    up = uploader(run, target)
    seen: list[UploadFailure | None] = []
    original = target.send_metrics

    def send(events: Sequence[MetricEvent]) -> None:
        seen.append(up.last_failure)
        original(events)

    target.send_metrics = send  # type: ignore[method-assign]
    up.sync()
    first, second = seen
    assert first is None and second is not None  # the retry saw the 503 recorded
    assert (second.kind, second.status, second.endpoint) == ("server", 503, "memory://test")
    assert second.what.startswith("send 1 metric event(s)")
    assert up.last_failure is None and up.last_error is None  # the retry succeeded
    run.log("a", 2)
    target.fail_metrics = [RuntimeError("boom")]
    target.send_metrics = original  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        up.sync()
    assert up.last_failure is not None and up.last_failure.kind == "unexpected"
    assert up.last_failure.what.startswith("send 1 metric event(s)") and "RuntimeError: boom" in str(up.last_failure)


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


def test_uploads_waited_for_at_exit_share_one_timeout(run: runlog.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """At interpreter exit every upload still waited for shares one RUNLOG_UPLOAD_TIMEOUT (server down: no N x 30 s hang)."""
    from runlog import _upload

    clock = [1000.0]

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return clock[0]

    monkeypatch.setattr(_upload, "time", Clock)
    monkeypatch.setattr(_upload, "_exit_deadline", None, raising=False)
    given: list[float] = []

    def stuck(timeout: float | None = None) -> bool:  # a server that never answers: each wait uses all it gets
        given.append(float(timeout or 0.0))
        clock[0] += float(timeout or 0.0)
        return False

    uploaders = []
    for owner in (run.child_run(), run.child_run(), run):  # two children nobody completed, and the main run
        up = uploader(owner, MemoryTarget(), finish_timeout=5.0)
        monkeypatch.setattr(up, "finish", stuck)
        monkeypatch.setitem(_upload._live, owner.path, up)
        uploaders.append(up)
    _upload._at_exit()  # the children's last passes (the main run is left to the run machinery)
    assert all(u._final.is_set() for u in uploaders[:2]) and not uploaders[2]._final.is_set()
    assert _upload.finish(run) is False  # then the run machinery completes the main run
    assert len(given) == 3 and sum(given) <= 5.0


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
    got = {(e.name, e.seq): (e.value, type(e.value), e.step, e.source.rsplit(".", 2)[-2]) for c in target.metric_calls for e in c}
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
    points.write_bytes(point(0, 1.0, None, 1.0) + point(0, 2.0, None, 2.0) + point(1, 3.0, None, 3.0) + point(0, 4.0, None, 4.0))
    scans: list[int] = []
    original = _planning.scan_point_names

    def spy(path: Path, offset: int, names: dict[int, str], chunk: int) -> int:
        scans.append(offset)
        return original(path, offset, names, chunk)

    monkeypatch.setattr(_planning, "scan_point_names", spy)
    target = MemoryTarget()
    up = uploader(run, target)
    up.sync()
    assert [(e.name, e.value, e.seq) for c in target.metric_calls for e in c] == [("a", 1.0, 0), ("a", 2.0, 1), ("a", 4.0, 2)]
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


def test_pending_counts_points_and_not_name_definitions(run: runlog.Run) -> None:
    """pending(): points left (bytes / 32) plus metric lines left, never the 'n' lines that name the points."""
    for i in range(10):
        run.log("a", float(i))
        run.log(f"name{i}", i)  # a new name each time: ten more 'n' lines
    run.log("s", "text")
    up = uploader(run, MemoryTarget())
    left = up.pending()
    metrics = next((run.path / "events").glob("*.metrics.jsonl"))
    assert metrics.read_text().count('["n"') == 11
    assert left.metric_events == 21
    assert left.metric_bytes == metrics.stat().st_size + 20 * 32
    up.sync()
    assert up.pending().metric_events == 0 and up.pending().metric_bytes == 0
