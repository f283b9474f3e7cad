"""runlog._model.metrics: metric kinds, their validation, get_metrics() shapes, histories and ranks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runlog import Experiment, InvalidMetricValue
from runlog._model.metrics import (
    MetricPoint,
    check_rank,
    encode_list,
    encode_row,
    encode_table,
    file_rank,
    history,
    rank_of_events,
    shape_metrics,
)
from runlog._store.events import EventColumns


def test_a_name_logged_once_is_bare_and_several_times_a_list_in_order(exp: Experiment) -> None:
    """get_metrics: one value -> the value itself; several -> a list in logged order."""
    run = exp.start_logging()
    run.log("once", 1.5)
    for v in (3, 1, 2):
        run.log("many", v)
    assert run.get_metrics() == {"once": 1.5, "many": [3, 1, 2]}


def test_rows_and_tables_shapes(exp: Experiment) -> None:
    """One row -> {col: value}; several rows (or a table) -> {col: [values]}."""
    run = exp.start_logging()
    run.log_row("single", a=1, b="x")
    run.log_row("rows", a=1, b=2)
    run.log_row("rows", a=3, b=4)
    run.log_table("table", {"x": [1, 2, 3], "y": [0.5, 0.25, 0.125]})
    run.log_table("one-row table", {"x": [1], "y": [2]})
    assert run.get_metrics() == {
        "single": {"a": 1, "b": "x"},
        "rows": {"a": [1, 3], "b": [2, 4]},
        "table": {"x": [1, 2, 3], "y": [0.5, 0.25, 0.125]},
        "one-row table": {"x": 1, "y": 2},
    }


def test_get_metrics_ignores_metric_kinds_it_does_not_know(exp: Experiment) -> None:
    """Events of a kind a newer writer added are ignored: no empty entry, no change of another metric's shape."""
    run = exp.start_logging()
    run._writer.metric("z", "acc", '{"future": 1}')  # an unknown kind first...
    run.log("acc", 0.9)  # ...then a scalar: still a bare value
    run.log("loss", 0.5)
    run._writer.metric("z", "only_new", "1")
    assert run.get_metrics() == {"acc": 0.9, "loss": 0.5}
    assert run.get_metrics(name="only_new") == {}


def test_get_metrics_of_a_name_mixing_rows_and_values_loses_nothing(exp: Experiment) -> None:
    """A name logged both as table rows and as values comes back as every value in logged order (rows as dicts)."""
    run = exp.start_logging()
    run.log_row("m", a=1)
    run.log("m", 5)
    run.log("n", 5)
    run.log_row("n", a=1, b=2)
    run.log_row("ok", a=1)
    run.log_table("ok", {"a": [2, 3]})
    assert run.get_metrics() == {"m": [{"a": 1}, 5], "n": [5, {"a": 1, "b": 2}], "ok": {"a": [1, 2, 3]}}


def _columns(*events: tuple[str, str, Any, Any]) -> EventColumns:
    return EventColumns(
        [e[0] for e in events], [e[1] for e in events], [e[2] for e in events], [e[3] for e in events],
        [float(i) for i in range(len(events))],
    )  # fmt: skip


def test_encode_list_takes_any_iterable_of_scalars() -> None:
    assert json.loads(encode_list("l", (x for x in [1, "a", None, 2.5]))) == [1, "a", None, 2.5]
    assert encode_list("l", []) == "[]"
    with pytest.raises(InvalidMetricValue, match="got a mapping"):
        encode_list("l", {"a": 1})
    with pytest.raises(InvalidMetricValue, match="got str"):
        encode_list("l", "abc")
    with pytest.raises(InvalidMetricValue, match="must be scalars .* nested list"):
        encode_list("l", [[1]])


def test_encode_row_and_table() -> None:
    assert json.loads(encode_row("r", {"a": 1, 2: "x"})) == {"a": 1, "2": "x"}
    with pytest.raises(InvalidMetricValue, match="at least one column"):
        encode_row("r", {})
    assert json.loads(encode_table("t", {"a": [1, 2], "b": ("x", None)})) == {"a": [1, 2], "b": ["x", None]}
    assert json.loads(encode_table("t", {})) == {}
    with pytest.raises(InvalidMetricValue, match="column 'a' of table 't' must be a list"):
        encode_table("t", {"a": "12"})
    with pytest.raises(InvalidMetricValue, match="'a': 1, 'b': 2"):
        encode_table("t", {"a": [1], "b": [1, 2]})


def test_shapes_of_each_kind() -> None:
    columns = _columns(
        ("s", "once", 1.5, None),
        ("s", "many", 1, 0),
        ("s", "many", 2, 1),
        ("l", "list", [1], None),
        ("l", "list", [2, 3], None),
        ("r", "row", {"a": 1}, None),
        ("t", "table", {"a": [1, 2], "b": [3, 4]}, None),
        ("r", "table", {"a": 5, "c": 6}, None),
        ("i", "image", "images/x.png", 3),
    )
    assert shape_metrics(columns) == {
        "once": 1.5,
        "many": [1, 2],
        "list": [1, 2, 3],
        "row": {"a": 1},
        "table": {"a": [1, 2, 5], "b": [3, 4, None], "c": [None, None, 6]},
        "image": "images/x.png",
    }
    assert shape_metrics(columns, "many") == {"many": [1, 2]}
    assert shape_metrics(columns, "missing") == {}
    assert shape_metrics(EventColumns()) == {}


def test_system_metrics_are_left_out_unless_asked() -> None:
    columns = _columns(("s", "loss", 1.0, None), ("s", "system/cpu", 50.0, None))
    assert shape_metrics(columns) == {"loss": 1.0}
    assert shape_metrics(columns, system=True) == {"loss": 1.0, "system/cpu": 50.0}
    assert shape_metrics(columns, "system/cpu") == {"system/cpu": 50.0}


def test_history_has_every_scalar_and_list_element_with_step_and_time() -> None:
    columns = _columns(("s", "m", 1.0, 5), ("l", "m", [2, 3], None), ("s", "other", 9, None), ("i", "m", "x.png", 7))
    assert history(columns, "m") == [
        MetricPoint(1.0, 5, 0.0),
        MetricPoint(2, None, 1.0),
        MetricPoint(3, None, 1.0),
        MetricPoint("x.png", 7, 3.0),
    ]
    assert history(columns, "none") == []


def test_ranks_of_events_files() -> None:
    processes = {
        "a": {"rank": 0, "events": "host-1-aa"},
        "b": {"rank": 1, "events": "host-2-bb.1"},
        "c": {"rank": "1", "events": "host-3-cc"},  # not an int: no rank
        "d": {"rank": 2},  # no events file
        "e": "not a dict",
    }
    rank_of = rank_of_events(processes)
    assert rank_of == {"host-1-aa": 0, "host-2-bb": 1, "host-3-cc": None}
    assert rank_of_events(None) == {}
    assert file_rank(rank_of, "host-2-bb.3.metrics.jsonl") == 1
    assert file_rank(rank_of, "host-9-zz.metrics.jsonl") is None


@pytest.mark.parametrize(("rank", "expected"), [(None, None), ("all", "all"), ("merged", "merged"), (0, 0), (3, 3)])
def test_check_rank_accepts(rank: object, expected: object) -> None:
    assert check_rank(rank) == expected


@pytest.mark.parametrize("rank", [-1, True, 1.0, "0", "first", [0]])
def test_check_rank_refuses(rank: object) -> None:
    with pytest.raises(ValueError, match="rank must be a rank number"):
        check_rank(rank)


def test_check_rank_takes_a_numpy_integer() -> None:
    np = pytest.importorskip("numpy")
    assert check_rank(np.int64(2)) == 2 and type(check_rank(np.int64(2))) is int
