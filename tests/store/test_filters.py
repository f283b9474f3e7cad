"""runlog._store.filters: MLflow's search syntax parsed into clauses and order-by keys."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runlog._store.filters import Clause, InvalidSearch, Words, like, parse_filter, parse_order_by


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics.acc >", "expected a value"),
        ("metrics.acc > 'high'", "a number"),
        ("metric.acc ~ 1", "position 11"),
        ("foo.acc = 1", "unknown key type 'foo'"),
        ("metrics.acc > 1 or metrics.b < 2", "OR is not supported"),
        ("params.lr > '0.1'", "does not apply to param.lr"),
        ("attributes.colour = 'red'", "unknown attribute 'colour'"),
        ("val_acc>0.95", "unknown attribute 'val_acc'"),
    ],
)
def test_bad_filters_say_where_and_show_an_example(text: str, message: str) -> None:
    """A filter that does not parse raises InvalidSearch (a ValueError) naming the problem."""
    with pytest.raises(InvalidSearch, match=message):
        parse_filter(text)
    assert issubclass(InvalidSearch, ValueError)


@given(st.text(alphabet=string.printable, max_size=40))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_any_text_parses_or_raises_invalid_search(text: str) -> None:
    """Whatever is typed in a search box: clauses, or InvalidSearch, never another exception."""
    try:
        parse_filter(text, plain_words=True)
    except InvalidSearch:
        pass


@pytest.mark.parametrize(
    ("value", "pattern", "ignore_case", "expected"),
    [
        ("sgd-small", "%sgd%", False, True),
        ("sgd-small", "sgd%", False, True),
        ("big-sgd", "sgd%", False, False),
        ("big-sgd", "%sgd", False, True),
        ("abc", "a_c", False, True),
        ("abbc", "a_c", False, False),
        ("a.c", "a.c", False, True),
        ("abc", "a.c", False, False),  # a regex character is literal
        ("SGD", "sgd", False, False),
        ("SGD", "sgd", True, True),
    ],
)
def test_like_is_mlflows_like(value: str, pattern: str, ignore_case: bool, expected: bool) -> None:
    assert like(value, pattern, ignore_case) is expected


@pytest.mark.parametrize("text", [None, "", "   "])
def test_an_empty_filter_is_no_clause(text: str | None) -> None:
    assert parse_filter(text) == []


def test_comparisons_become_clauses_of_the_right_kind_and_value_type() -> None:
    clauses = parse_filter(
        "metrics.acc >= 1 and params.lr = '0.01' and tags.`team name` != \"core\" and "
        "attributes.start_time > 5 and run_name LIKE 'a%' and status IN ('FINISHED', 'FAILED')"
    )
    assert clauses == [
        Clause("metric", "acc", ">=", 1.0),
        Clause("param", "lr", "=", "0.01"),
        Clause("tag", "team name", "!=", "core"),
        Clause("attribute", "start_time", ">", 5),
        Clause("attribute", "run_name", "LIKE", "a%"),
        Clause("attribute", "status", "IN", ("FINISHED", "FAILED")),
    ]
    assert type(clauses[0].value) is float and type(clauses[1].value) is str


def test_runlog_spellings_and_aliases() -> None:
    assert parse_filter("properties.lr = 'x'") == [Clause("param", "lr", "=", "x")]
    assert parse_filter("created > 3") == [Clause("attribute", "start_time", ">", 3)]
    assert parse_filter("`Run name` = 'a'") == [Clause("attribute", "run_name", "=", "a")]
    assert parse_filter("metrics.val.acc < 0.5") == [Clause("metric", "val.acc", "<", 0.5)]
    assert parse_filter("metrics.a <> 1") == [Clause("metric", "a", "!=", 1.0)]
    assert parse_filter("params.opt = 'it''s'") == [Clause("param", "opt", "=", "it's")]


def test_null_tests_and_not_in() -> None:
    assert parse_filter("metrics.acc IS NULL and tags.t is not null and params.p NOT IN ('a')") == [
        Clause("metric", "acc", "IS NULL"),
        Clause("tag", "t", "IS NOT NULL"),
        Clause("param", "p", "NOT IN", ("a",)),
    ]


def test_in_does_not_apply_to_numbers() -> None:
    with pytest.raises(InvalidSearch, match="IN compares text"):
        parse_filter("metrics.acc IN (1, 2)")


def test_plain_words_are_a_word_search_only_without_a_comparator() -> None:
    assert parse_filter("SGD  Sweep", plain_words=True) == Words(("sgd", "sweep"))
    assert parse_filter("metrics.acc > 1", plain_words=True) == [Clause("metric", "acc", ">", 1.0)]
    with pytest.raises(InvalidSearch):
        parse_filter("sgd sweep")  # without plain_words, words are not a search


def test_order_by_keys_with_directions() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by(["metrics.acc DESC", "params.lr asc", "start_time", "tags.`a b`"]) == [
        ("metric", "acc", False),
        ("param", "lr", True),
        ("attribute", "start_time", True),
        ("tag", "a b", True),
    ]
    with pytest.raises(InvalidSearch, match="ASC or DESC"):
        parse_order_by(["metrics.acc sideways"])
    with pytest.raises(InvalidSearch, match="unknown attribute 'colour'"):
        parse_order_by(["colour"])
