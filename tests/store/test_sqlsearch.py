"""runlog._store.sqlsearch: MLflow's search compiled to SQL over the run index, and paging through it."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from runlog._store.filters import Clause, parse_filter, parse_order_by
from runlog._store.index import RunIndex
from runlog._store.search import RunRow, entry
from runlog._store.sqlsearch import compile_search, page, sort_values


def test_the_parser_feeds_both_back_ends() -> None:
    """The clauses the SQL is compiled from are the parser's own (one filter implementation, two back ends)."""
    clauses = parse_filter("metrics.acc > 0.5 and params.lr LIKE '0.%' and attributes.status != 'FINISHED'")
    assert isinstance(clauses, list)
    compiled = compile_search(clauses, (), parse_order_by(["metrics.acc DESC"]), None)
    assert len(compiled.where) == 1 + 3 and compiled.joins and compiled.order[1] == ("o0.num", False)


ROWS = [
    RunRow(
        "r1",
        experiment="a",
        run_name="alpha",
        status="Completed",
        start_time=1000,
        metrics={"acc": 0.5},
        params={"lr": "0.1"},
    ),
    RunRow(
        "r2",
        experiment="a",
        run_name="beta",
        status="Failed",
        start_time=2000,
        metrics={"acc": math.nan},
        params={"lr": "0.01"},
    ),
    RunRow(
        "r3",
        experiment="b",
        run_name="gamma",
        status="Running",
        start_time=3000,
        metrics={"acc": 0.9},
        tags={"team": "x"},
    ),
    RunRow("r4", experiment="b", run_name="delta", status="Completed", start_time=4000),
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    index = RunIndex(tmp_path)
    connection = index._open()
    assert connection is not None
    writes = [(f"{r.experiment}/{r.run_id}", "d:1", r, entry(r)) for r in ROWS]
    index._write(connection, writes, [], {}, "j", 1, lambda row: True)
    yield connection
    index.forget()


def _ids(
    db: sqlite3.Connection, text: str | None = None, order: list[str] | None = None, **kwargs: object
) -> list[str]:
    clauses = parse_filter(text)
    assert isinstance(clauses, list)
    compiled = compile_search(clauses, (), parse_order_by(order), kwargs.pop("experiments", None))  # type: ignore[arg-type]
    return [key.split("/")[1] for key, _row in page(db, compiled, **{"limit": None, **kwargs})[0]]  # type: ignore[arg-type]


def test_no_search_is_every_run_newest_first(db: sqlite3.Connection) -> None:
    assert _ids(db) == ["r4", "r3", "r2", "r1"]


def test_a_run_lacking_the_key_does_not_match(db: sqlite3.Connection) -> None:
    assert _ids(db, "metrics.acc > 0.1") == ["r3", "r1"]
    assert _ids(db, "metrics.acc != 0.5") == ["r3", "r2"]  # NaN is unequal to everything; r4 has no acc
    assert _ids(db, "metrics.acc IS NULL") == ["r4"]
    assert _ids(db, "params.lr LIKE '0.0%'") == ["r2"]
    assert _ids(db, "tags.team IN ('x', 'y')") == ["r3"]


def test_status_matches_runlogs_and_mlflows_names(db: sqlite3.Connection) -> None:
    assert _ids(db, "attributes.status = 'FINISHED'") == _ids(db, "attributes.status = 'Completed'") == ["r4", "r1"]
    assert _ids(db, "attributes.status != 'FINISHED'") == ["r3", "r2"]
    assert _ids(db, "attributes.status NOT IN ('RUNNING', 'Failed')") == ["r4", "r1"]


def test_experiments_and_words_narrow_the_search(db: sqlite3.Connection) -> None:
    assert _ids(db, experiments=["a"]) == ["r2", "r1"]
    assert _ids(db, experiments=[]) == []
    compiled = compile_search([], ("gamma",), [], None)
    assert [k for k, _ in page(db, compiled, None)[0]] == ["b/r3"]


def test_an_order_key_puts_values_first_then_nan_then_missing_either_way(db: sqlite3.Connection) -> None:
    assert _ids(db, order=["metrics.acc DESC"]) == ["r3", "r1", "r2", "r4"]
    assert _ids(db, order=["metrics.acc ASC"]) == ["r1", "r3", "r2", "r4"]
    assert _ids(db, order=["attributes.run_name"]) == ["r1", "r2", "r4", "r3"]


def test_a_page_by_limit_and_offset_and_its_count(db: sqlite3.Connection) -> None:
    compiled = compile_search([], (), [], None)
    rows, total = page(db, compiled, 2, 1, count=True)
    assert [k for k, _ in rows] == ["b/r3", "a/r2"] and total == 4
    assert page(db, compiled, 2)[1] is None  # counted only when asked


def test_the_fast_first_page_equals_the_whole_search_cut(db: sqlite3.Connection) -> None:
    compiled = compile_search([], (), parse_order_by(["metrics.acc DESC"]), None)
    assert compiled.fast is not None
    for limit in (1, 2, 3, 4):
        assert [k for k, _ in page(db, compiled, limit)[0]] == ["b/r3", "a/r1", "a/r2", "b/r4"][:limit]


def test_a_page_after_a_run_or_after_its_sort_values(db: sqlite3.Connection) -> None:
    compiled = compile_search([], (), parse_order_by(["metrics.acc DESC"]), None)
    assert [k for k, _ in page(db, compiled, 2, after_key="a/r1")[0]] == ["a/r2", "b/r4"]
    assert [k for k, _ in page(db, compiled, 2, after="r3")[0]] == ["a/r1", "a/r2"]  # a run id, from older tokens
    values = sort_values(db, compiled, "b/r3")
    assert values is not None and len(values) == len(compiled.order)
    assert [k for k, _ in page(db, compiled, 10, after_values=values)[0]] == ["a/r1", "a/r2", "b/r4"]
    assert sort_values(db, compile_search([Clause("metric", "acc", ">", 0.6)], (), [], None), "a/r1") is None


def test_rows_come_with_their_stored_text(db: sqlite3.Connection) -> None:
    ((key, text),) = page(db, compile_search([], (), [], ["a"]), 1)[0]
    assert key == "a/r2" and '"r2"' in text
