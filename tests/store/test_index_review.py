"""The run index and its searches against the defects a review found (2026-12-05): run ids shared by two
experiments, out-of-range input, a lock held across fork, a journal-named run whose events folder's time
did not move, and a page read while another process changes the index."""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

import pytest

import runlog
from runlog._store.filters import InvalidSearch
from runlog._store.search import find_runs, index_for


def _store(tmp_path: Path) -> tuple[Path, runlog.Workspace]:
    store = tmp_path / "store"
    return store, runlog.Workspace(store)


def test_paging_ends_and_sees_each_run_once_when_two_experiments_share_a_run_id(tmp_path: Path) -> None:
    """Run ids are unique within an experiment only: a page token names the run by experiment and id, so
    paging newest first ends, every run seen once (it used to cycle forever)."""
    store, ws = _store(tmp_path)
    for name in ("e", "f"):
        parent = runlog.Experiment(ws, name).start_logging(outputs=False, snapshot_directory=None)
        parent.child_run(run_id="same").complete()
        parent.complete()
    runlog.Experiment(ws, "e").start_logging(outputs=False, snapshot_directory=None).complete()
    seen: list[tuple[str, str]] = []
    token = None
    for _ in range(20):
        rows, token = find_runs(store, None, None, 1, token)
        seen += [(r.experiment, r.run_id) for r in rows]
        if token is None:
            break
    assert token is None and len(seen) == 5 and len(set(seen)) == 5
    assert ("e", "same") in seen and ("f", "same") in seen


@pytest.mark.parametrize("max_results", [0, -1, 10**20, 2**63])
def test_out_of_range_max_results_is_a_clear_error_and_leaves_the_index(tmp_path: Path, max_results: int) -> None:
    """max_results outside 1..MAX_RESULTS: InvalidSearch saying what to pass; the index is not taken for
    damaged (a LIMIT SQLite refused used to delete and rebuild it)."""
    store, ws = _store(tmp_path)
    run = runlog.Experiment(ws, "e").start_logging(outputs=False, snapshot_directory=None)
    run.log("acc", 0.5)
    run.complete()
    find_runs(store)
    before = os.stat(store / "index.sqlite3").st_ino
    with pytest.raises(InvalidSearch, match="max_results must be a whole number from 1 to"):
        find_runs(store, None, ["metrics.acc DESC"], max_results)
    assert os.stat(store / "index.sqlite3").st_ino == before
    assert [r.run_id for r in find_runs(store, None, ["metrics.acc DESC"], 5)[0]] == [run.id]


@pytest.mark.parametrize("offset", ["1e300", "Infinity", -1, 10**13])
def test_a_page_token_with_an_offset_out_of_range_is_a_clear_error(tmp_path: Path, offset: object) -> None:
    store, ws = _store(tmp_path)
    runlog.Experiment(ws, "e").start_logging(outputs=False, snapshot_directory=None).complete()
    raw = json.dumps({"offset": offset}) if not isinstance(offset, str) else '{"offset": ' + offset + "}"
    token = base64.b64encode(raw.encode()).decode()
    with pytest.raises(InvalidSearch, match="invalid page token"):
        find_runs(store, None, None, 5, token)


def test_a_filter_of_too_many_conditions_is_a_clear_error(tmp_path: Path) -> None:
    """A filter SQLite could not compile (it used to fall back, silently, to reading every run)."""
    store, ws = _store(tmp_path)
    runlog.Experiment(ws, "e").start_logging(outputs=False, snapshot_directory=None).complete()
    with pytest.raises(InvalidSearch, match="too long"):
        find_runs(store, " and ".join(f"metrics.m{i} > 0" for i in range(1001)))


def test_a_child_forked_while_another_thread_searches_can_search(tmp_path: Path) -> None:
    """The index's lock held by another thread at the fork: the child gets a new lock and its search
    answers (it used to wait forever)."""
    store, ws = _store(tmp_path)
    runlog.Experiment(ws, "e").start_logging(outputs=False, snapshot_directory=None).complete()
    find_runs(store)
    index = index_for(store)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with index._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                import signal

                signal.alarm(20)
                code = 0 if len(find_runs(store)[0]) == 1 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_ended_run_the_journal_names_is_read_again_though_its_folder_time_did_not_move(tmp_path: Path) -> None:
    """Two changes within one tick of a coarse file-system clock leave the events folder's time unchanged:
    the journal's line still makes the run read again (it used to stay stale)."""
    store, ws = _store(tmp_path)
    run = runlog.Experiment(ws, "e").start_logging(outputs=False, snapshot_directory=None)
    run.set_tags({"k": "old"})
    run.complete()
    assert len(find_runs(store, "tags.k = 'old'")[0]) == 1
    events = run.path / "events"
    before = os.stat(events)
    run.set_tags({"k": "new"})
    os.utime(events, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert [r.run_id for r in find_runs(store, "tags.k = 'new'")[0]] == [run.id]
    assert find_runs(store, "tags.k = 'old'")[0] == []


def test_a_page_is_one_snapshot_of_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another connection deleting a run's row between the page's statements does not shorten the page: the
    statements read one snapshot (it used to answer a short page with no next token)."""
    import sqlite3

    from runlog._store import sqlsearch

    store, ws = _store(tmp_path)
    exp = runlog.Experiment(ws, "e")
    for _ in range(6):
        exp.start_logging(outputs=False, snapshot_directory=None).complete()
    find_runs(store)
    real_keys = sqlsearch._keys
    other = sqlite3.connect(store / "index.sqlite3", isolation_level=None, timeout=10)

    def keys_then_delete(*args: object, **kwargs: object) -> list[str]:
        keys = real_keys(*args, **kwargs)  # type: ignore[arg-type]
        other.execute("DELETE FROM texts WHERE key = ?", (keys[0],))
        return keys

    monkeypatch.setattr(sqlsearch, "_keys", keys_then_delete)
    try:
        rows, token = find_runs(store, None, None, 3)
    finally:
        other.close()
    assert len(rows) == 3 and token is not None


def test_a_filter_with_a_lone_surrogate_is_a_clear_error(tmp_path: Path) -> None:
    """Text SQLite cannot take (a lone surrogate) is an InvalidSearch, which the MLflow store turns into
    INVALID_PARAMETER_VALUE (a UnicodeEncodeError used to escape it)."""
    store, ws = _store(tmp_path)
    runlog.Experiment(ws, "e").start_logging(outputs=False, snapshot_directory=None).complete()
    with pytest.raises(InvalidSearch, match="not valid Unicode"):
        find_runs(store, "tags.k = '\ud800'")


def test_every_match_without_a_limit_in_newest_first_order(tmp_path: Path) -> None:
    """No max_results (a run page's children): every match, newest first, by the plan that builds the set."""
    store, ws = _store(tmp_path)
    parent = runlog.Experiment(ws, "e").start_logging(outputs=False, snapshot_directory=None)
    kids = [parent.child_run(name=f"k{i}") for i in range(3)]
    for kid in kids:
        kid.complete()
    parent.complete()
    rows, token = find_runs(store, f"tags.`mlflow.parentRunId` = '{parent.id}'")
    assert token is None and {r.run_id for r in rows} == {k.id for k in kids}
    assert [r.run_id for r in rows] == [r.run_id for r in find_runs(store, f"tags.`mlflow.parentRunId` = '{parent.id}'", None, 10)[0]]


def test_a_run_whose_value_moves_while_paging_skips_no_other_run(tmp_path: Path) -> None:
    """Pages ordered by a live metric: the run that ended a page logs a new value (it moves to the end of the
    order) and the next pages still start where that page ended, so no other run is skipped or repeated (the
    next page used to start after the run's new place: 7 of 10 runs lost)."""
    store, ws = _store(tmp_path)
    exp = runlog.Experiment(ws, "e")
    runs = [exp.start_logging(outputs=False, snapshot_directory=None) for _ in range(10)]
    for i, run in enumerate(runs):
        run.log("loss", float(i))
    seen: list[str] = []
    rows, token = find_runs(store, None, ["metrics.loss ASC"], 3)
    seen += [r.run_id for r in rows]
    runs[2].log("loss", 100.0)  # the last run of the first page moves to the end
    while token is not None:
        rows, token = find_runs(store, None, ["metrics.loss ASC"], 3, token)
        seen += [r.run_id for r in rows]
    assert set(seen) == {r.id for r in runs}
    assert [s for s in seen if s != runs[2].id] == [r.id for r in runs if r is not runs[2]]
    for run in runs:
        run.complete()


@pytest.mark.parametrize(
    "filter_string,order_by",
    [
        (None, None),
        (None, ["metrics.acc DESC"]),
        (None, ["metrics.acc ASC", "params.lr DESC"]),
        ("metrics.acc >= 0.2", ["metrics.loss ASC"]),
        (None, ["tags.k ASC"]),
        ("params.lr != '0.1'", ["attributes.run_name DESC"]),
        (None, ["attributes.start_time ASC"]),
    ],
)
def test_pages_by_token_are_the_whole_answer_cut_in_pieces(tmp_path: Path, filter_string: str | None, order_by: list[str] | None) -> None:
    """Paging 2 runs at a time through the tokens (keyset after the last run's sort terms) gives exactly the
    unpaged answer in its order: ties, runs lacking the sorted key (NULL), NaN."""
    store, ws = _store(tmp_path)
    exp = runlog.Experiment(ws, "e")
    for i in range(11):
        run = exp.start_logging(outputs=False, snapshot_directory=None, display_name=f"n{i % 4}")
        if i % 5:
            run.log("acc", [0.1, 0.2, 0.2, float("nan")][i % 4])
        run.log("loss", (i * 7) % 3 / 10)
        if i % 3:
            run.add_properties({"lr": ["0.1", "0.01"][i % 2]})
        if i % 2:
            run.set_tags({"k": f"v{i % 3}"})
        run.complete()
    whole = [r.run_id for r in find_runs(store, filter_string, order_by)[0]]
    paged: list[str] = []
    token = None
    for _ in range(20):
        rows, token = find_runs(store, filter_string, order_by, 2, token)
        paged += [r.run_id for r in rows]
        if token is None:
            break
    assert paged == whole and whole


def test_an_index_removed_by_another_process_is_opened_anew(tmp_path: Path) -> None:
    """Another process found the index damaged and made it anew: this process's open connection is not
    used on with the removed file (it went on syncing a file nobody read), its next search opens the new one."""
    store, ws = _store(tmp_path)
    exp = runlog.Experiment(ws, "e")
    exp.start_logging(outputs=False, snapshot_directory=None).complete()
    assert len(find_runs(store)[0]) == 1
    index = index_for(store)
    old = index._db
    for suffix in ("", "-wal", "-shm"):  # what RunIndex._remove does in the other process
        Path(f"{index.path}{suffix}").unlink(missing_ok=True)
    exp.start_logging(outputs=False, snapshot_directory=None).complete()
    assert len(find_runs(store)[0]) == 2
    assert index._db is not old and (store / "index.sqlite3").is_file()
    assert index._db is not None and index._db.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
