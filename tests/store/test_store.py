"""The local store: append-only events, crash tolerance, several writer processes, live readers."""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runlog import Experiment, Run, StoreError, Workspace
from runlog._store import RunReader, layout
from runlog._store.records import pack_float


def test_a_killed_writer_loses_none_of_the_calls_that_returned(exp: Experiment, store: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A child killed with SIGKILL after reporting N returned run.log calls: all N are read back, and every
    record it wrote passes its check (nothing is reported as damaged)."""
    run = exp.start_logging()
    script = textwrap.dedent(
        f"""
        import sys
        from runlog import Experiment, Run, Workspace
        run = Run(Experiment(Workspace({str(store)!r}), "test-exp"), {run.id!r})
        i = 0
        while True:
            run.log("x", i)
            i += 1
            if i % 1000 == 0:
                sys.stdout.write(f"{{i}}\\n")
                sys.stdout.flush()
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        reported = 0
        while reported < 20000:
            reported = int(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
        child.wait()
    with caplog.at_level(logging.WARNING, logger="runlog"):
        values = Run(exp, run.id).get_metrics()["x"]
    assert len(values) >= reported
    assert values == list(range(len(values)))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_a_torn_last_line_is_skipped_not_an_error(exp: Experiment) -> None:
    """A partial last line (a writer killed mid-write) and a garbage line are skipped on read."""
    run = exp.start_logging()
    run.log("a", 1)
    run.log("a", 2)
    events = run.path / layout.EVENTS_DIR
    metrics_file = next(p for p in events.iterdir() if p.name.endswith(layout.METRICS_SUFFIX))
    with open(metrics_file, "ab") as fh:
        fh.write(b'["s","a",3,null,17')
    assert run.get_metrics() == {"a": [1, 2]}
    with open(metrics_file, "ab") as fh:
        fh.write(b"\nnot json\n")
    run.log("a", 4)
    assert run.get_metrics() == {"a": [1, 2, 4]}


def _worker(store: str, run_id: str, worker: int, n: int) -> None:
    run = Run(Experiment(Workspace(store), "test-exp"), run_id)
    for i in range(n):
        run.log(f"w{worker}", i)
        run.log("shared", worker * n + i)


def test_four_processes_writing_to_one_run_lose_nothing(exp: Experiment, store: Path) -> None:
    """4 worker processes log to the same run at once; every value of every worker is there, in order."""
    run = exp.start_logging()
    n = 5000
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(store), run.id, w, n)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    metrics = Run(exp, run.id).get_metrics()
    for w in range(4):
        assert metrics[f"w{w}"] == list(range(n))
    assert sorted(metrics["shared"]) == list(range(4 * n))


def test_a_forked_child_writes_its_own_files_into_the_same_run(exp: Experiment) -> None:
    """After fork, the child logs through new files of its own; the parent's keep working."""
    run = exp.start_logging()
    run.log("parent", 1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            run.log("child", 2)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    run.log("parent", 3)
    assert run.get_metrics() == {"parent": [1, 3], "child": 2}
    files = [p.name for p in (run.path / layout.EVENTS_DIR).iterdir() if p.name.endswith(layout.METRICS_SUFFIX)]
    assert len(files) == 2


def test_a_reader_sees_a_run_while_it_is_being_written(exp: Experiment, store: Path) -> None:
    """Another process reading a running run gets a consistent prefix of what was logged."""
    run = exp.start_logging()
    for i in range(100):
        run.log("x", i)
    code = textwrap.dedent(
        f"""
        import json
        from runlog import Workspace
        run = Workspace({str(store)!r}).get_run({run.id!r})
        print(json.dumps([run.get_status(), run.get_metrics()["x"]]))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    status, values = json.loads(out)
    assert status == "Running" and values == list(range(100))


def test_events_files_follow_the_documented_line_format(exp: Experiment) -> None:
    """Each line is a JSON array [kind, name, value, step, time] as docs/store-format.md says."""
    run = exp.start_logging()
    before = time.time()
    run.log("loss", 0.5, step=3)
    run.log_list("l", [1, 2])
    reader = RunReader(run.path)
    events = reader.metric_events()
    assert [e[:4] for e in events] == [["s", "loss", 0.5, 3], ["l", "l", [1, 2], None]]
    assert before <= events[0][4] <= time.time()
    record = json.loads((run.path / layout.RUN_RECORD).read_text())
    assert record["format"] == layout.FORMAT_VERSION and record["run_id"] == run.id
    assert json.loads((run.path.parents[3] / layout.STORE_RECORD).read_text())["format"] == layout.FORMAT_VERSION == 3


def test_a_torn_last_point_is_skipped_until_whole(exp: Experiment) -> None:
    """A partial 32-byte record at the end of a points file (a writer killed mid-write) is not read."""
    run = exp.start_logging()
    run.log("a", 1.5)
    points = next((run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))
    record = pack_float(0, 2.5, -(1 << 63), time.time())
    with open(points, "ab") as fh:
        fh.write(record[:31])
    assert run.get_metrics() == {"a": 1.5}
    with open(points, "ab") as fh:
        fh.write(record[31:])
    assert run.get_metrics() == {"a": [1.5, 2.5]}


def test_threads_naming_new_metrics_at_once_never_mix_names(exp: Experiment) -> None:
    """8 threads each log 25 new metric names at the same moment: every point reads back under its own name."""
    import threading

    run = exp.start_logging()
    start = threading.Barrier(8)

    def work(t: int) -> None:
        start.wait()
        for i in range(200):
            run.log(f"t{t}_m{i % 25}", t * 1000 + i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    metrics = run.get_metrics()
    assert len(metrics) == 200
    for t in range(8):
        for m in range(25):
            assert metrics[f"t{t}_m{m}"] == [t * 1000 + i for i in range(m, 200, 25)]


@given(st.lists(st.tuples(st.one_of(st.floats(), st.integers(-(2**70), 2**70), st.booleans(), st.none(), st.text(max_size=3)), st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))), min_size=1, max_size=30))
def test_any_run_log_value_reads_back_as_logged(values: list[tuple[object, int | None]]) -> None:
    """Whatever run.log accepts (points or JSON lines, any step) comes back from the store equal, with its type and step, in order."""
    ws = Workspace(Path(os.environ["RUNLOG_STORE"]))
    run = Experiment(ws, "prop").start_logging(outputs=False)
    for value, step in values:
        run.log("m", value, step=step)
        run._writer.scalars({"k": value, "other": 1.0}, step)  # the tagged-metric path
    events = run._reader.metric_events()
    for name in ("m", "k"):
        got = [(e[2], e[3]) for e in events if e[1] == name]
        assert len(got) == len(values)
        _same(got, values)
    run.complete()


def _same(got: list[tuple[object, object]], values: list[tuple[object, int | None]]) -> None:
    for (g, gs), (want, ws_) in zip(got, values):
        assert gs == ws_
        if isinstance(want, float) and math.isnan(want):
            assert isinstance(g, float) and math.isnan(g)
        else:
            assert g == want and type(g) is type(want)


def test_store_errors_say_what_to_do(tmp_path: Path) -> None:
    """A store that cannot be created raises StoreError (an OSError) naming RUNLOG_STORE."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    import runlog

    with pytest.raises(runlog.StoreError, match="RUNLOG_STORE") as info:
        Workspace(blocker / "store")
    assert isinstance(info.value, OSError)


def test_a_clock_set_back_keeps_each_process_in_logged_order(exp: Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wall time going backwards (NTP, a VM resumed) does not reorder a process's values: its JSON lines
    and its points are merged, each keeping its own order."""
    import runlog._store.writer as writer_module

    clock = iter([1000.0, 1001.0, 1002.0, 995.0, 996.0, 997.0, 998.0])
    run = exp.start_logging()
    run.log("warm", 0.0)  # opens the files (and names "warm") before the clock is replaced
    monkeypatch.setattr(writer_module, "_now", lambda: next(clock))
    for v in [1.0, 2.0, 3.0]:
        run.log("loss", v)
    run.log("phase", "eval")
    run.log("loss", 4.0)
    monkeypatch.undo()
    assert run.get_metrics()["loss"] == [1.0, 2.0, 3.0, 4.0]


def test_a_lost_name_line_is_still_defined_by_the_names_file(exp: Experiment) -> None:
    """A metrics-file write that failed half-way glues the next line (a name definition) to its fragment:
    the copy in the names file still defines it (issue 17), and every later point of every name is read."""
    run = exp.start_logging()
    for i in range(3):
        run.log("a", float(i))
    metrics = next((run.path / layout.EVENTS_DIR).glob("*" + layout.METRICS_SUFFIX))
    with open(metrics, "ab") as fh:
        fh.write(b'["s","note",')  # the half-written line
    run.log("b", 1.0)  # its "n" line is glued to the fragment: unreadable
    for i in range(3, 100):
        run.log("a", float(i))
    got = run.get_metrics()
    assert got["a"] == [float(i) for i in range(100)] and got["b"] == 1.0


def test_a_line_with_a_time_that_is_not_a_number_does_not_break_reading(exp: Experiment) -> None:
    """A hand-edited line whose time is null is read (as time 0) next to the points of the same process."""
    run = exp.start_logging()
    run.log("a", 1.0)
    metrics = next((run.path / layout.EVENTS_DIR).glob("*" + layout.METRICS_SUFFIX))
    with open(metrics, "a") as fh:
        fh.write('["s","b",2,null,null]\n')
    assert run.get_metrics() == {"b": 2, "a": 1.0}


def test_a_format_1_store_is_read_by_every_reader(tmp_path: Path) -> None:
    """A store written by format 1 (every scalar a JSON line, no points files) reads back through
    get_metrics(), the viewer's StoreQuery and the uploader's event iterator."""
    from runlog._upload._reading import iter_metric_events
    from runlog.ui.query import StoreQuery

    store = tmp_path / "old-store"
    run_dir = store / "experiments" / "old" / "runs" / "old_1717000000_abcdef12"
    (run_dir / "events").mkdir(parents=True)
    (store / "store.json").write_text('{"format": 1, "name": "old"}')
    (store / "experiments" / "old" / "experiment.json").write_text('{"name": "old", "id": "x", "created": 1717000000.0}')
    (run_dir / "run.json").write_text(json.dumps({"format": 1, "run_id": run_dir.name, "experiment": "old", "parent_id": None,
                                                  "run_type": "local", "created": 1717000000.0}))
    (run_dir / "events" / "h-1-aaaaaa.meta.jsonl").write_text('["status","Running",null,null,1717000000.0]\n'
                                                             '["status","Completed",null,null,1717000009.0]\n')
    (run_dir / "events" / "h-1-aaaaaa.metrics.jsonl").write_text(
        '["s","loss",0.5,0,1717000001.0]\n["s","loss",0.25,1,1717000002.0]\n["s","phase","done",null,1717000003.0]\n'
    )
    run = Workspace(store).get_run(run_dir.name)
    assert json.loads((store / "store.json").read_text()) == {"format": layout.FORMAT_VERSION, "name": "old"}  # says what it now holds
    assert run.get_metrics() == {"loss": [0.5, 0.25], "phase": "done"}
    assert run.get_status() == "Completed"
    summary = StoreQuery(store).runs()["runs"][0]["metrics"]["loss"]
    assert (summary["count"], summary["last"], summary["min"]) == (2, 0.25, 0.25)
    assert list(iter_metric_events(run_dir)) == [("s", "loss", 0.5), ("s", "loss", 0.25), ("s", "phase", "done")]


def test_a_store_of_a_newer_format_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """A store written by a newer runlog (a format this one does not know) is refused with a StoreError
    saying to upgrade, instead of being misread."""
    store = tmp_path / "future"
    store.mkdir()
    (store / "store.json").write_text('{"format": 99, "name": "future"}')
    with pytest.raises(StoreError, match="newer runlog.*upgrade"):
        Workspace(store)


def test_files_of_a_removed_run_are_not_recreated(exp: Experiment) -> None:
    """upload_file on a run whose folder was removed raises StoreError and creates nothing."""
    import io
    import shutil

    run = exp.start_logging()
    shutil.rmtree(run.path)
    with pytest.raises(StoreError, match="removed"):
        run.upload_file("outputs/x.txt", io.BytesIO(b"x"))
    assert not run.path.exists()


def test_the_store_modules_are_small_import_no_circle_and_keep_their_names() -> None:
    """Issue 14: every module of runlog/_store is under 600 lines, no two import each other in a circle
    (counting imports inside functions), and the names other modules import from writer.py and reader.py
    still resolve there."""
    import ast
    import importlib

    folder = Path(importlib.import_module("runlog._store").__file__ or "").parent
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        source = path.read_text()
        assert source.count("\n") < 600, f"{path.name} has {source.count(chr(10))} lines"
        targets = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets.update([node.module] if node.module else [a.name for a in node.names])
        graph[path.stem] = {t.split(".")[0] for t in targets} - {path.stem}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    assert not [m for m in graph if reaches(m, m, set())]
    writer = importlib.import_module("runlog._store.writer")
    reader = importlib.import_module("runlog._store.reader")
    for name in ("RunWriter", "encode_scalar", "encode_step", "_encode_str", "writer_for", "RETIRE_SECONDS", "RETIRE_MAX", "_os_write", "_now"):
        assert hasattr(writer, name), name
    for name in [*reader.__all__, "metric_only", "spare_names", "_reported"]:
        assert hasattr(reader, name), name
