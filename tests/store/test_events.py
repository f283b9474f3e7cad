"""runlog._store.events: decoding events files into columns, checking each event, merging files by time."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from runlog._store.events import (
    METRIC_KINDS,
    EventColumns,
    merge_by_time,
    metric_only,
    parse_columns,
    parse_lines,
    point_names,
    valid_event,
)

pytestmark = pytest.mark.usefixtures("fresh_damage_reports")


def test_the_fast_parser_checks_the_arity_of_every_line() -> None:
    """Case 4: parse_columns keeps the whole lines of five and skips a 4/6 pair, at the parser itself."""
    data = b'["s","x",1,null,1.0]\n["s","a",1,null]\n[5.0,"s","b",2,null,5.0]\n["s","y",2,null,2.0]\n'
    columns = parse_columns(data)
    assert columns.names == ["x", "y"] and columns.values == [1, 2]


@pytest.mark.parametrize(
    "event",
    [
        ["s", "loss", 0.5, 3, 1.0],
        ["s", "loss", None, None, 1],
        ["s", "loss", "text", None, None],  # a hand-edited line with no time
        ["l", "l", [1, "a", None, True], None, 1.0],
        ["r", "row", {"a": 1, "b": "x"}, None, 1.0],
        ["t", "table", {"a": [1, 2], "b": ["x", None]}, None, 1.0],
        ["i", "image", "images/a.png", 2, 1.0],
        ["n", "loss", 0, None, 1.0],
        ["future", {"any": "name"}, [{"any": "value"}], None, 1.0],
    ],
)
def test_events_of_the_right_types_are_valid(event: list[Any]) -> None:
    assert valid_event(*event)


@pytest.mark.parametrize(
    "event",
    [
        [1, "loss", 0.5, None, 1.0],  # kind not a str
        ["s", "loss", 0.5, 1.5, 1.0],  # float step
        ["s", "loss", 0.5, True, 1.0],  # bool step
        ["s", "loss", 0.5, None, "now"],  # time not a number
        ["future", "x", 1, "step", 1.0],  # even an unknown kind needs a step and a time
        ["s", "", 0.5, None, 1.0],  # empty name
        ["s", None, 0.5, None, 1.0],
        ["s", "loss", [0.5], None, 1.0],
        ["n", "loss", -1, None, 1.0],
        ["n", "loss", True, None, 1.0],
        ["i", "image", 3, None, 1.0],
        ["l", "l", [[1]], None, 1.0],
        ["r", "row", {"a": [1]}, None, 1.0],
        ["t", "table", {"a": 1}, None, 1.0],
    ],
)
def test_events_of_the_wrong_types_are_not(event: list[Any]) -> None:
    assert not valid_event(*event)


def test_only_whole_lines_are_parsed() -> None:
    assert len(parse_columns(b"")) == 0
    assert len(parse_columns(b'["s","a",1,null,1.0]')) == 0  # no newline yet: being written
    columns = parse_columns(b'["s","a",1,null,1.0]\n["s","a",2,null,2.0]\n["s","a",3,nu')
    assert columns.values == [1, 2]


def test_the_slow_path_keeps_the_good_lines_in_order_and_reports_each_kind_of_damage_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = b'["s","a",1,null,1.0]\nnot json\n["s","a",[1],null,2.0]\n["l","b",[1,2],3,3.0]\n'
    with caplog.at_level(logging.DEBUG, logger="runlog.store"):
        columns = parse_columns(data, "/x/p.metrics.jsonl")
        parse_columns(data, "/x/p.metrics.jsonl")
    assert columns.rows() == [["s", "a", 1, None, 1.0], ["l", "b", [1, 2], 3, 3.0]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "1 unreadable line(s)" in warnings[0] and "1 malformed event(s)" in warnings[1]
    assert all("/x/p.metrics.jsonl" in w for w in warnings)


def test_parse_lines_gives_one_list_per_event() -> None:
    assert parse_lines(b'["s","a",1,null,1.0]\n["future","k",{"v":1},null,2.0]\n') == [
        ["s", "a", 1, None, 1.0],
        ["future", "k", {"v": 1}, None, 2.0],
    ]


def test_point_names_maps_the_ids_of_n_events() -> None:
    columns = parse_columns(b'["n","loss",0,null,1.0]\n["s","acc",1,null,1.0]\n["n","acc",1,null,1.0]\n')
    assert point_names(columns) == {0: "loss", 1: "acc"}


def _columns(times: list[Any], name: str) -> EventColumns:
    n = len(times)
    return EventColumns(["s"] * n, [name] * n, list(range(n)), [None] * n, list(times))


def test_merge_orders_by_time_and_keeps_the_order_of_parts_on_ties() -> None:
    merged = merge_by_time([_columns([1.0, 3.0, 5.0], "a"), EventColumns(), _columns([2.0, 3.0, 4.0], "b")])
    assert list(zip(merged.names, merged.values)) == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("b", 2), ("a", 2)]
    assert merged.times == [1.0, 2.0, 3.0, 3.0, 4.0, 5.0]


def test_merge_keeps_a_part_whose_clock_went_back_in_its_own_order() -> None:
    merged = merge_by_time([_columns([10.0, 11.0, 5.0, 6.0], "a"), _columns([7.0], "b")])
    assert [(n, v) for n, v in zip(merged.names, merged.values) if n == "a"] == [("a", 0), ("a", 1), ("a", 2), ("a", 3)]
    assert len(merged) == 5


def test_merge_counts_a_time_that_is_not_a_number_as_zero() -> None:
    merged = merge_by_time([_columns([1.0, 2.0], "a"), _columns([None], "b")])
    assert merged.names == ["b", "a", "a"]


def test_merge_of_one_part_is_that_part() -> None:
    part = _columns([3.0, 1.0], "a")
    assert merge_by_time([EventColumns(), part]) is part
    assert len(merge_by_time([])) == 0


def test_metric_only_drops_name_definitions_and_unknown_kinds() -> None:
    columns = parse_columns(
        b'["n","a",0,null,1.0]\n["s","a",1,null,1.0]\n["z","a",1,null,1.0]\n["l","b",[1],null,1.0]\n'
    )
    assert metric_only(columns).kinds == ["s", "l"]
    only = _columns([1.0], "a")
    assert metric_only(only) is only
    assert "n" in METRIC_KINDS and "z" not in METRIC_KINDS


def test_columns_extend_and_take() -> None:
    columns = _columns([1.0, 2.0], "a")
    columns.extend(_columns([3.0], "b"))
    assert columns.take([2, 0]).rows() == [["s", "b", 0, None, 3.0], ["s", "a", 0, None, 1.0]]
