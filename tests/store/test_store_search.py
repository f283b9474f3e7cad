"""runlog._store.search: MLflow's search syntax without MLflow, held to MLflow's own SearchUtils by differential tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag
from mlflow.utils.search_utils import SearchUtils

from runlog._store.mlflow_names import MLFLOW_STATUS
from runlog._store.search import InvalidSearch, RunRow, parse_order_by, search

STATUSES = ["Running", "Completed", "Failed", "Canceled"]
TEXT = st.text(alphabet="ab_%x", min_size=0, max_size=3)
PLAIN = st.text(alphabet="abx", min_size=1, max_size=3)


@st.composite
def rows(draw: st.DrawFn) -> list[RunRow]:
    n = draw(st.integers(0, 8))
    found = []
    for i in range(n):
        metrics = draw(st.dictionaries(st.sampled_from(["a", "b"]), st.floats(-5, 5, allow_nan=False) | st.sampled_from([0.0, 1.0])))
        params = draw(st.dictionaries(st.sampled_from(["lr", "opt"]), PLAIN))
        tags = draw(st.dictionaries(st.sampled_from(["team", "mlflow.note"]), PLAIN))
        status = draw(st.sampled_from(STATUSES))
        start = draw(st.integers(0, 5))
        found.append(RunRow(
            run_id=f"run{i}", run_name=draw(PLAIN), status=status, start_time=start, end_time=None,
            metrics=metrics, params=params, tags=tags,
        ))  # fmt: skip
    return found


def to_mlflow(row: RunRow) -> Run:
    info = RunInfo(row.run_id, "0", "me", MLFLOW_STATUS[row.status], row.start_time or 0, None, "active", run_name=row.run_name)
    data = RunData(
        metrics=[Metric(k, v, 0, 0) for k, v in row.metrics.items()],
        params=[Param(k, v) for k, v in row.params.items()],
        tags=[RunTag(k, v) for k, v in row.tags.items()],
    )
    return Run(info, data)


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@st.composite
def clauses(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["metric", "param", "tag", "status", "name", "start", "id"]))
    if kind == "metric":
        op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<="]))
        return f"metrics.{draw(st.sampled_from(['a', 'b']))} {op} {draw(st.sampled_from(['0', '1.5', '-2', '0.0']))}"
    if kind in ("param", "tag"):
        key = draw(st.sampled_from(["lr", "opt"] if kind == "param" else ["team", "`mlflow.note`"]))
        prefix = draw(st.sampled_from(["params", "param"] if kind == "param" else ["tags", "tag"]))
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "like"]))
        return f"{prefix}.{key} {op} {quoted(draw(TEXT))}"
    if kind == "status":
        op = draw(st.sampled_from(["=", "!="]))
        return f"attributes.status {op} {quoted(draw(st.sampled_from(['RUNNING', 'FINISHED', 'FAILED', 'KILLED'])))}"
    if kind == "name":
        return f"attributes.run_name {draw(st.sampled_from(['=', '!=', 'LIKE', 'ILIKE']))} {quoted(draw(TEXT))}"
    if kind == "start":
        return f"attributes.start_time {draw(st.sampled_from(['=', '>', '<=']))} {draw(st.integers(0, 5))}"
    ids = draw(st.lists(st.sampled_from([f"run{i}" for i in range(8)]), min_size=1, max_size=3))
    return f"attributes.run_id {draw(st.sampled_from(['IN', 'NOT IN']))} ({', '.join(map(quoted, ids))})"


ORDER = st.lists(
    st.sampled_from(["metrics.a DESC", "metrics.b", "params.lr ASC", "attributes.start_time", "attributes.run_name DESC",
                     "tags.team DESC", "attributes.status"]),
    max_size=2,
)  # fmt: skip


@settings(max_examples=300, deadline=None, derandomize=True)
@given(runs=rows(), filters=st.lists(clauses(), min_size=1, max_size=3), order=ORDER)
def test_filter_and_order_agree_with_mlflows_search_utils(runs: list[RunRow], filters: list[str], order: list[str]) -> None:
    """For generated runs, filters and order-by clauses, the result is MLflow's, run for run, in order."""
    text = " and ".join(filters)
    expected = SearchUtils.sort(SearchUtils.filter([to_mlflow(r) for r in runs], text), order)
    got, _ = search(runs, text, order)
    assert [r.run_id for r in got] == [r.info.run_id for r in expected], text


@settings(max_examples=50, deadline=None, derandomize=True)
@given(runs=rows(), size=st.integers(1, 4))
def test_pages_cover_every_run_once_and_tokens_are_mlflows(runs: list[RunRow], size: int) -> None:
    """Paging with page tokens visits every run once, in order; the tokens are MLflow's {"offset": n}."""
    seen, token = [], None
    while True:
        page, token = search(runs, None, ["metrics.a DESC"], size, token)
        seen += [r.run_id for r in page]
        if token is None:
            break
        assert SearchUtils.parse_start_offset_from_page_token(token) == len(seen)  # MLflow can read it
    assert seen == [r.run_id for r in search(runs, None, ["metrics.a DESC"])[0]]


def test_runs_added_between_pages_neither_repeat_nor_skip() -> None:
    """A sweep starting runs while someone pages newest first: the next page goes on after the last run seen."""
    runs = [RunRow(f"r{i}", start_time=i) for i in range(10)]
    first, token = search(runs, None, None, 4)
    assert [r.run_id for r in first] == ["r9", "r8", "r7", "r6"]
    runs += [RunRow("new1", start_time=20), RunRow("new2", start_time=21)]  # newer: before everything seen
    second, token = search(runs, None, None, 4, token)
    third, token = search(runs, None, None, 4, token)
    assert [r.run_id for r in second + third] == ["r5", "r4", "r3", "r2", "r1", "r0"] and token is None


def test_runlog_additions() -> None:
    """properties. is params.; runlog status names match; plain words search ids, names and experiments."""
    runs = [
        RunRow("sweep_1", experiment="sweep", run_name="sgd-small", status="Failed", params={"lr": "0.01"}),
        RunRow("sweep_2", experiment="sweep", run_name="adam", status="Completed", params={"lr": "0.1"}),
        RunRow("other_3", experiment="other", run_name="sgd-big", status="Completed"),
    ]
    assert [r.run_id for r in search(runs, "properties.lr = '0.01'")[0]] == ["sweep_1"]
    assert [r.run_id for r in search(runs, "attributes.status = 'Failed'")[0]] == ["sweep_1"]
    assert [r.run_id for r in search(runs, "attributes.status != 'Completed'")[0]] == ["sweep_1"]
    assert [r.run_id for r in search(runs, "run_name LIKE '%sgd%' and attributes.experiment = 'sweep'")[0]] == ["sweep_1"]
    assert sorted(r.run_id for r in search(runs, "sgd", plain_words=True)[0]) == ["other_3", "sweep_1"]
    assert [r.run_id for r in search(runs, "SGD sweep", plain_words=True)[0]] == ["sweep_1"]


def test_order_by_and_page_token_errors() -> None:
    """A bad order-by key or page token is InvalidSearch with the fix."""
    assert parse_order_by(["metrics.`val acc` DESC", "created"]) == [("metric", "val acc", False), ("attribute", "start_time", True)]
    with pytest.raises(InvalidSearch, match="unknown attribute"):
        parse_order_by(["attributes.nope"])
    with pytest.raises(InvalidSearch, match="page token"):
        search([RunRow("a")], None, None, 1, "not-a-token")


def test_status_orders_by_mlflows_names() -> None:
    """order_by attributes.status sorts as MLflow does (by its status names), whatever runlog calls them."""
    runs = [RunRow(f"r{i}", status=s, start_time=0) for i, s in enumerate(["Completed", "Failed", "Canceled", "Running"])]
    for order in (["attributes.status"], ["attributes.status DESC"]):
        expected = SearchUtils.sort([to_mlflow(r) for r in runs], order)
        assert [r.run_id for r in search(runs, None, order)[0]] == [r.info.run_id for r in expected]
