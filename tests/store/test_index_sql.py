"""runlog._store.sqlsearch: a search compiled to SQL over the run index answers what the Python predicates
answer (one parser, two back ends held equal), pages by keyset without skipping or repeating a run, and the
run index stays current across processes without reading every row."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runlog
from runlog._store.filters import Clause, Words
from runlog._store.index import RunIndex
from runlog._store.search import RunRow, entry, filter_rows, find_runs, index_for, newest_first, order_rows
from runlog._store.sqlsearch import compile_search, page

_NUMBERS = [0.0, 0.5, 1.0, -1.0, 1e300, math.inf, -math.inf, math.nan, math.nan]
_TEXTS = ["0.1", "0.01", "a_b", "A%b", "x", "", "Ü", "é1"]
_PATTERNS = ["%1", "0._", "a%", "%", "A_B", "x", "%Ü%", "_"]
_STATUSES = ["Completed", "Failed", "Running", "Canceled", "Damaged"]


@st.composite
def _rows(draw: Any) -> list[RunRow]:
    rows = []
    for i in range(draw(st.integers(0, 9))):
        start = draw(st.sampled_from([None, 1000, 2000, 3000]))
        rows.append(RunRow(
            run_id=f"r{i}",
            experiment=draw(st.sampled_from(["a", "b"])),
            run_name=draw(st.sampled_from(["Alpha", "beta", "r", "Gamma one"])),
            status=draw(st.sampled_from(_STATUSES)),
            start_time=start,
            end_time=draw(st.sampled_from([None, 5000])),
            metrics=draw(st.dictionaries(st.sampled_from(["loss", "acc"]), st.sampled_from(_NUMBERS))),
            params=draw(st.dictionaries(st.sampled_from(["lr", "seed"]), st.sampled_from(_TEXTS))),
            tags=draw(st.dictionaries(st.sampled_from(["team", "mlflow.runName"]), st.sampled_from(_TEXTS))),
        ))  # fmt: skip
    return rows


def _clause(draw: Any) -> Clause:
    kind = draw(st.sampled_from(["metric", "metric", "param", "tag", "attribute"]))
    if kind == "metric":
        op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<=", "IS NULL", "IS NOT NULL"]))
        value = draw(st.sampled_from([0.0, 0.5, 1.0, -1.0, math.inf]))
        return Clause(kind, draw(st.sampled_from(["loss", "acc", "loss", "none"])), op, None if "NULL" in op else value)
    if kind in ("param", "tag"):
        key = draw(st.sampled_from(["lr", "seed", "team", "mlflow.runName"]))
    else:
        key = draw(st.sampled_from(["status", "run_name", "experiment", "run_id", "start_time", "end_time"]))
    if key in ("start_time", "end_time"):
        op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<=", "IS NULL", "IS NOT NULL"]))
        return Clause(kind, key, op, None if "NULL" in op else draw(st.sampled_from([1000, 2000, 2500, 5000])))
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]))
    pool = [*_TEXTS, "Completed", "FINISHED", "RUNNING", "Running", "beta", "a", "r1"]
    if op in ("IN", "NOT IN"):
        return Clause(kind, key, op, tuple(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))))
    if op in ("LIKE", "ILIKE"):
        return Clause(kind, key, op, draw(st.sampled_from([*_PATTERNS, "%ed", "%ING", "B%"])))
    return Clause(kind, key, op, None if "NULL" in op else draw(st.sampled_from(pool)))


@st.composite
def _searches(draw: Any) -> tuple[list[Clause], tuple[str, ...], list[tuple[str, str, bool]], list[str] | None]:
    clauses = [_clause(draw) for _ in range(draw(st.integers(0, 2)))]
    words = tuple(draw(st.lists(st.sampled_from(["a", "beta", "r1", "gamma o", "ü"]), max_size=2)))
    keys = st.sampled_from([
        ("metric", "loss"), ("metric", "acc"), ("param", "lr"), ("tag", "team"), ("attribute", "status"),
        ("attribute", "start_time"), ("attribute", "end_time"), ("attribute", "run_name"), ("attribute", "experiment"),
    ])  # fmt: skip
    order = [(k, n, draw(st.booleans())) for k, n in draw(st.lists(keys, max_size=2))]
    experiments = draw(st.sampled_from([None, ["a"], ["a", "b"], []]))
    return clauses, words, order, experiments


def _python(rows: list[RunRow], search: tuple[Any, ...]) -> list[str]:
    """The reference: the Python predicates and sort of runlog._store.search over rows in key order."""
    clauses, words, order, experiments = search
    rows = sorted(rows, key=lambda r: (r.experiment, r.run_id))
    if experiments is not None:
        rows = [r for r in rows if r.experiment in experiments]
    found = filter_rows(filter_rows(rows, clauses), Words(words)) if words else filter_rows(rows, clauses)
    return [f"{r.experiment}/{r.run_id}" for r in order_rows(newest_first(found), order)]


def _database(tmp: Path, rows: list[RunRow]) -> Any:
    index = RunIndex(tmp)
    db = index._open()
    assert db is not None
    db.execute("DELETE FROM runs")
    db.execute("DELETE FROM vals")
    writes = [(f"{r.experiment}/{r.run_id}", "d:1", r, entry(r)) for r in rows]
    index._write(db, writes, [], {}, "j", 1, lambda row: True)
    return index, db


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows(), search=_searches())
def test_sql_answers_what_the_python_predicates_answer(tmp_path: Path, rows: list[RunRow], search: tuple[Any, ...]) -> None:
    """Every generated filter (metrics with NaN and infinities, params, tags, attributes with runlog's and MLflow's
    status names, LIKE/ILIKE/IN/NOT IN/IS NULL, plain words) and order-by (values, then NaN, then missing, ties
    newest first): the SQL compiled from the parsed clauses matches and orders runs exactly as the Python
    predicates do; pages of two, each after the previous page's last run, make up the same list."""
    index, db = _database(tmp_path, rows)
    try:
        clauses, words, order, experiments = search
        compiled = compile_search(clauses, words, order, experiments)
        expected = _python(rows, search)
        got, total = page(db, compiled, None, count=True)
        assert [k for k, _ in got] == expected
        assert total == len(expected)
        paged: list[str] = []
        after = None
        while True:
            part, _ = page(db, compiled, 2, len(paged), after)
            paged += [k for k, _ in part]
            if len(part) < 2:
                break
            after = part[-1][0].split("/", 1)[1]
        assert paged == expected
    finally:
        index.forget()


def _every_clause() -> list[Clause]:
    clauses = []
    for key in ("loss", "acc", "none"):
        for op in ("=", "!=", ">", ">=", "<", "<="):
            clauses += [Clause("metric", key, op, v) for v in (0.0, 0.5, 1.0, -1.0, math.inf, -math.inf)]
        clauses += [Clause("metric", key, "IS NULL"), Clause("metric", key, "IS NOT NULL")]
    texts = [*_TEXTS, "Completed", "FINISHED", "RUNNING", "Running", "KILLED", "beta", "a", "r1"]
    string_keys = [("param", "lr"), ("param", "seed"), ("tag", "team"), ("tag", "mlflow.runName")] + [
        ("attribute", k) for k in ("status", "run_name", "experiment", "run_id", "user_id", "lifecycle_stage")
    ]
    for kind, key in string_keys:
        clauses += [Clause(kind, key, op, v) for op in ("=", "!=") for v in texts]
        clauses += [Clause(kind, key, op, v) for op in ("LIKE", "ILIKE") for v in [*_PATTERNS, "%ed", "%ING", "B%", "f%"]]
        clauses += [Clause(kind, key, op, v) for op in ("IN", "NOT IN") for v in [("Completed",), ("x", "FINISHED"), ("0.1", "beta")]]
        clauses += [Clause(kind, key, "IS NULL"), Clause(kind, key, "IS NOT NULL")]
    for key in ("start_time", "end_time"):
        clauses += [Clause("attribute", key, op, v) for op in ("=", "!=", ">", ">=", "<", "<=") for v in (1000, 2000, 2500.5, 5000)]
        clauses += [Clause("attribute", key, "IS NULL"), Clause("attribute", key, "IS NOT NULL")]
    return clauses


_ORDER_KEYS = [
    ("metric", "loss"), ("metric", "acc"), ("metric", "none"), ("param", "lr"), ("tag", "team"), ("attribute", "status"),
    ("attribute", "start_time"), ("attribute", "end_time"), ("attribute", "run_name"), ("attribute", "experiment"),
]  # fmt: skip


def test_every_single_clause_and_order_key_matches_the_python_predicates(tmp_path: Path) -> None:
    """Each clause of every kind, comparator and telling value, and each order-by key both ways, over rows with
    NaN, infinities, missing keys, every status and tied start times: SQL and Python give the same runs in the
    same order (the generated test above combines them)."""
    rows = []
    numbers = [*_NUMBERS, None]
    for i in range(24):
        metrics = {k: v for k, v in (("loss", numbers[i % len(numbers)]), ("acc", numbers[(i * 7) % len(numbers)])) if v is not None}
        rows.append(RunRow(
            run_id=f"r{i}", experiment="ab"[i % 2], run_name=["Alpha", "beta", "r1", "Gamma one"][i % 4],
            status=_STATUSES[i % len(_STATUSES)], start_time=[None, 1000, 2000, 3000][i % 4] if i % 5 else 2000,
            end_time=[None, 5000][i % 3 % 2], user_id=["", "x"][i % 2],
            metrics=metrics,
            params={"lr": _TEXTS[i % len(_TEXTS)]} if i % 3 else {},
            tags={"team": _TEXTS[(i * 3) % len(_TEXTS)], "mlflow.runName": f"r{i}"} if i % 4 else {},
        ))  # fmt: skip
    index, db = _database(tmp_path, rows)
    try:
        for clause in _every_clause():
            search = ([clause], (), [], None)
            assert [k for k, _ in page(db, compile_search(*search[:3], None), None)[0]] == _python(rows, search), clause
        for kind, key in _ORDER_KEYS:
            for ascending in (True, False):
                for clauses in ([], [Clause("metric", "acc", ">=", 0.0)]):
                    search = (clauses, (), [(kind, key, ascending)], None)
                    expected = _python(rows, search)
                    compiled = compile_search(*search[:3], None)
                    assert [k for k, _ in page(db, compiled, None)[0]] == expected, (key, ascending)
                    for size in (1, 3, 8):  # a first page: through the order key's index when it fills the page
                        assert [k for k, _ in page(db, compiled, size)[0]] == expected[:size], (key, ascending, size)
        for words in (("a",), ("beta",), ("r1",), ("gamma o",), ("ALPHA".lower(), "r")):
            search = ([], words, [], None)
            assert [k for k, _ in page(db, compile_search(*search[:3], None), None)[0]] == _python(rows, search), words
    finally:
        index.forget()


@pytest.fixture
def many(tmp_path: Path) -> tuple[Path, list[runlog.Run]]:
    store = tmp_path / "store"
    exp = runlog.Experiment(runlog.Workspace(store), "sweep")
    runs = []
    for i in range(30):
        run = exp.start_logging(outputs=False)
        run.log("acc", i / 30)
        run.tag("lr", str(i % 3))
        run.complete()
        runs.append(run)
    return store, runs


def test_a_new_process_reads_only_the_page_and_what_the_journal_names(
    many: tuple[Path, list[runlog.Run]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process opening an indexed store reads no run folder and decodes only the page's rows; a tag written
    by another process since is seen, and only that run is read again."""
    store, runs = many
    find_runs(store)
    index_for(store).forget()  # as a new process would
    from runlog._store import search as search_module

    read: list[str] = []
    decoded: list[str] = []
    real_row, real_decode = search_module.run_row, search_module.decode_row
    monkeypatch.setattr(search_module, "run_row", lambda d, latest=None: read.append(d.name) or real_row(d, latest))
    monkeypatch.setattr(search_module, "decode_row", lambda text: decoded.append(text) or real_decode(text))
    rows, token = find_runs(store, "metrics.acc >= 0.5", ["metrics.acc DESC"], 5)
    assert [r.run_id for r in rows] == [r.id for r in runs[::-1][:5]] and token
    assert read == [] and len(decoded) == 6  # the page and one more (whether a next page exists)
    subprocess.run(
        [sys.executable, "-c", "import sys, runlog; runlog.Workspace(sys.argv[1]).get_run(sys.argv[2]).tag('lr', 'late')",
         str(store), runs[20].id], check=True, timeout=60,
    )  # fmt: skip
    index_for(store).forget()
    rows, _ = find_runs(store, "tags.lr = 'late'")
    assert [r.run_id for r in rows] == [runs[20].id] and read == [runs[20].id]


def test_pages_neither_skip_nor_repeat_while_runs_are_added(many: tuple[Path, list[runlog.Run]]) -> None:
    """Paging newest first while new runs start: every run that existed at the first page is seen exactly once."""
    store, runs = many
    exp = runlog.Experiment(runlog.Workspace(store), "sweep")
    seen: list[str] = []
    token = None
    while True:
        rows, token = find_runs(store, None, ["metrics.acc ASC"], 4, token)
        seen += [r.run_id for r in rows]
        late = exp.start_logging(outputs=False)  # a sweep still starting runs, sorted before the pages seen
        late.log("acc", -1.0)
        late.complete()
        if token is None:
            break
    old = [r.id for r in runs]
    assert [s for s in seen if s in old] == old  # ascending acc = creation order, each once
    assert len(seen) == len(set(seen))


def test_run_folders_copied_in_or_removed_are_seen_at_once(many: tuple[Path, list[runlog.Run]], tmp_path: Path) -> None:
    """Folders copied in (no journal line) or removed moments apart are found by listing the runs folder again
    (only the difference from this process's last listing is looked at), and by a new process too."""
    import json
    import shutil

    store, runs = many
    runs_dir = runs[0].path.parent
    assert len(find_runs(store)[0]) == 30
    for i in range(3):
        copy = runs_dir / f"copied_{i}"
        shutil.copytree(runs[i].path, copy)
        record = json.loads((copy / "run.json").read_text())
        record["run_id"] = copy.name
        (copy / "run.json").write_text(json.dumps(record))
        shutil.rmtree(runs[10 + i].path)
        ids = {r.run_id for r in find_runs(store)[0]}
        assert f"copied_{i}" in ids and runs[10 + i].id not in ids and len(ids) == 30
    index_for(store).forget()
    assert {r.run_id for r in find_runs(store)[0]} == ids


def test_a_forked_child_opens_its_own_connection(many: tuple[Path, list[runlog.Run]]) -> None:
    """A child forked after a search does not use the parent's SQLite connection (unsafe across fork): it
    opens its own and answers; the parent's still works."""
    store, _runs = many
    assert len(find_runs(store)[0]) == 30
    parent = index_for(store)._db
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            rows, _ = find_runs(store, "metrics.acc >= 0.5")
            code = 0 if len(rows) == 15 and index_for(store)._db is not parent else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert index_for(store)._db is parent and len(find_runs(store, "metrics.acc < 0.5")[0]) == 15


def test_a_journal_line_for_a_folder_that_is_gone_leaves_no_row(many: tuple[Path, list[runlog.Run]]) -> None:
    """The journal names a run whose folder is gone (removed after its last event): no row is kept for it,
    not even one looked at again on every search."""
    from runlog._store.journal import JOURNAL_FILE

    store, _runs = many
    find_runs(store)
    with open(store / JOURNAL_FILE, "a") as journal_file:
        journal_file.write("sweep/ghost_run\n")
    assert len(find_runs(store)[0]) == 30
    db = index_for(store)._db
    assert db is not None
    assert db.execute("SELECT count(*) FROM runs WHERE key = 'sweep/ghost_run'").fetchone()[0] == 0
