"""runlog._store.index: the run index serves unchanged runs, rebuilds what changed, survives damage and kill -9."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import runlog
from runlog._store.index import INDEX_FILE, RunIndex
from runlog._store.search import find_runs, index_for, iter_run_dirs, run_row


def _runs(exp: runlog.Experiment, n: int) -> list[runlog.Run]:
    made = []
    for i in range(n):
        run = exp.start_logging(outputs=False)
        run.log("loss", 1.0 / (i + 1))
        run.add_properties({"i": str(i)})
        run.complete()
        made.append(run)
    return made


def _truth(store: Path) -> dict[str, tuple[str, dict[str, float], dict[str, str]]]:
    rows = [run_row(d) for d in iter_run_dirs(store)]
    return {r.run_id: (r.status, r.metrics, r.tags) for r in rows}


def _indexed(store: Path) -> dict[str, tuple[str, dict[str, float], dict[str, str]]]:
    rows, _ = find_runs(store)
    return {r.run_id: (r.status, r.metrics, r.tags) for r in rows}


def test_unchanged_runs_come_from_the_index_changed_ones_are_read_again(exp: runlog.Experiment, store: Path) -> None:
    """A second process (a fresh index object) reads no unchanged run; a tag, a point, a new and a removed run show."""
    runs = _runs(exp, 5)
    built: list[Path] = []

    def build(run_dir: Path) -> dict[str, str]:
        built.append(run_dir)
        return {"id": run_dir.name, "status": run_row(run_dir).status}

    RunIndex(store).rows(build)
    assert len(built) == 5 and (store / INDEX_FILE).is_file()
    built.clear()
    assert len(RunIndex(store).rows(build)) == 5
    assert built == []  # all five from the file, none read
    runs[0].tag("late", "yes")  # a tag after the end
    extra = exp.start_logging(outputs=False)
    extra.log("loss", 9.0)
    import shutil

    shutil.rmtree(runs[1].path)
    rows = RunIndex(store).rows(build)
    assert sorted(d.name for d in built) == sorted([runs[0].id, extra.id])
    assert {r["id"] for r in rows} == {r.id for r in runs if r is not runs[1]} | {extra.id}
    extra.complete()


def test_find_runs_through_the_index_equals_reading_every_run(exp: runlog.Experiment, store: Path) -> None:
    """What find_runs answers (index-backed, in-process copy) is what reading every run gives, as runs change."""
    runs = _runs(exp, 3)
    assert _indexed(store) == _truth(store)
    live = exp.start_logging(outputs=False)
    for step in range(3):
        live.log("loss", float(step))
        assert _indexed(store) == _truth(store)
    live.tag("stage", "2")
    runs[2].tag("note", "x")
    assert _indexed(store) == _truth(store)
    index_for(store).forget()  # as a new process would: from the file
    assert _indexed(store) == _truth(store)
    live.complete()
    assert _indexed(store)[live.id][0] == "Completed"


def test_a_damaged_or_deleted_index_is_rebuilt(exp: runlog.Experiment, store: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Garbage in the index file: one WARNING, rebuilt from the runs; a deleted index: built again."""
    _runs(exp, 3)
    _indexed(store)
    index_for(store).forget()  # closed first: an open connection would write its pages back on closing
    (store / INDEX_FILE).write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{store / INDEX_FILE}{suffix}").unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING, logger="runlog.store"):
        assert _indexed(store) == _truth(store)
    assert "damaged" in caplog.text
    index_for(store).forget()
    (store / INDEX_FILE).unlink()
    assert _indexed(store) == _truth(store)


def test_a_read_only_store_is_searched_without_an_index(exp: runlog.Experiment, store: Path) -> None:
    """No index can be written (a read-only store): the runs are read, and the answer is the same."""
    _runs(exp, 2)
    if os.geteuid() == 0:  # root writes anyway: stand in with a folder the index file cannot be made in
        (store / INDEX_FILE).mkdir()
    else:
        store.chmod(0o555)
    try:
        assert _indexed(store) == _truth(store)
    finally:
        store.chmod(0o755)


def test_concurrent_refreshes_and_kill_9_leave_a_correct_index(exp: runlog.Experiment, store: Path, tmp_path: Path) -> None:
    """Two processes refreshing the index while runs are written, one of them killed with SIGKILL: the index
    still opens and answers what the runs hold."""
    _runs(exp, 20)
    code = (
        "import sys, pathlib\n"
        "from runlog._store.search import find_runs, index_for\n"
        "store = pathlib.Path(sys.argv[1])\n"
        "while True:\n"
        "    index_for(store).forget()\n"
        "    find_runs(store)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store)]) for _ in range(2)]
    try:
        live = exp.start_logging(outputs=False)
        for i in range(200):
            live.log("loss", float(i))
            if i % 50 == 0:
                live.tag("at", str(i))
                time.sleep(0.05)
        procs[0].send_signal(signal.SIGKILL)
        live.complete()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    index_for(store).forget()
    assert _indexed(store) == _truth(store)
    assert _indexed(store)[live.id][1]["loss"] == 199.0


def test_a_run_that_could_not_be_read_is_read_again_next_time(
    exp: runlog.Experiment, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that fails once (too many open files) lists the run as damaged, and is not remembered as such."""
    from runlog._store import search as _search

    (run,) = _runs(exp, 1)
    real = _search.run_row
    calls = []

    def flaky(run_dir: Path, latest: object = None) -> _search.RunRow:
        calls.append(run_dir)
        if len(calls) == 1:
            raise OSError(24, "Too many open files")
        return real(run_dir, latest)

    monkeypatch.setattr(_search, "run_row", flaky)
    assert _indexed(store)[run.id][0] == "Damaged"
    assert _indexed(store)[run.id][0] == "Completed"


def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every run the index checks on disk (one stat of its events folder, or its events files)."""
    import runlog._store.index as index_module

    checked: list[str] = []
    quick, full = index_module.quick_signature, index_module.signature

    def counted_quick(run_dir: Path) -> str:
        checked.append(Path(run_dir).name)
        return quick(run_dir)

    def counted_full(run_dir: Path) -> str:
        checked.append(Path(run_dir).name)
        return full(run_dir)

    monkeypatch.setattr(index_module, "quick_signature", counted_quick)
    monkeypatch.setattr(index_module, "signature", counted_full)
    return checked


def test_a_warm_search_checks_only_the_runs_the_journal_names(
    exp: runlog.Experiment, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ended runs are not stat-ed on a warm search; a tag added by another process is seen (its run checked)."""
    runs = _runs(exp, 6)
    assert _indexed(store) == _truth(store)
    checked = _count_checks(monkeypatch)
    find_runs(store)
    assert checked == []  # nothing named by the journal, nothing running: no run looked at
    code = (
        "import sys, runlog\n"
        "ws = runlog.Workspace(sys.argv[1])\n"
        "ws.get_run(sys.argv[2]).tag('late', 'yes')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(store), runs[2].id], check=True, timeout=60)
    rows, _ = find_runs(store)
    assert {r.run_id: r.tags.get("late") for r in rows}[runs[2].id] == "yes"
    assert set(checked) == {runs[2].id}


def test_a_removed_or_replaced_journal_costs_a_check_of_every_run_never_a_stale_row(
    exp: runlog.Experiment, store: Path
) -> None:
    """Without the journal every ended run is checked by its stat again; writers follow a new journal file."""
    from runlog._store.journal import JOURNAL_FILE

    runs = _runs(exp, 4)
    assert _indexed(store) == _truth(store)
    (store / JOURNAL_FILE).unlink()
    runs[0].tag("after", "removal")  # this process's journal descriptor pointed at the removed file
    assert _indexed(store) == _truth(store)
    runs[1].tag("after", "restart")  # written into the journal the index started anew
    assert _indexed(store) == _truth(store)
    assert (store / JOURNAL_FILE).read_text().strip().endswith(runs[1].id)


def test_a_running_run_is_read_as_it_grows_among_ended_ones(exp: runlog.Experiment, store: Path) -> None:
    """The fast path still reads a running run's new points and notices a new run folder."""
    _runs(exp, 3)
    live = exp.start_logging(outputs=False)
    live.log("loss", 3.0)
    assert _indexed(store)[live.id][1] == {"loss": 3.0}
    live.log("loss", 2.0)
    assert _indexed(store)[live.id][1] == {"loss": 2.0}
    later = exp.start_logging(outputs=False)
    assert later.id in _indexed(store)
    live.complete()
    later.complete()
    assert _indexed(store) == _truth(store)
