"""runlog._store.encoding: how run.log values and steps are written as JSON text."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runlog import Experiment, InvalidMetricValue
from runlog._store.encoding import _plain, encode_scalar, encode_step
from runlog._store.events import parse_lines

scalars = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(),
)


@given(st.lists(scalars, max_size=20))
def test_scalar_encoding_round_trips(values: list[object]) -> None:
    """Any int, float (NaN, inf), bool, None or str written as an event line reads back equal."""
    lines = b"".join(f'["s","x",{encode_scalar(v)},null,1.0]\n'.encode() for v in values)
    back = [e[2] for e in parse_lines(lines)]
    assert len(back) == len(values)
    for got, want in zip(back, values):
        if isinstance(want, float) and math.isnan(want):
            assert isinstance(got, float) and math.isnan(got)
        else:
            assert got == want and type(got) is type(want)


def test_masked_and_long_double_numpy_values_are_stored_as_what_they_are(exp: Experiment) -> None:
    """numpy.ma's masked values are not numbers (stored as their text, not as the hidden data);
    a numpy.longdouble is its float."""
    import numpy as np

    run = exp.start_logging()
    run.log("all_masked", np.ma.array([1.0, 2.0], mask=[True, True]).mean())
    run.log("masked_0d", np.ma.array(7.5, mask=True))
    run.log("long", np.longdouble(1.5))
    run.log("f32", np.float32(0.25))
    metrics = run.get_metrics()
    assert metrics["all_masked"] == "masked" and isinstance(metrics["masked_0d"], str)
    assert (metrics["long"], metrics["f32"]) == (1.5, 0.25)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (0.1, "0.1"),
        (-0.0, "-0.0"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (2**70, str(2**70)),
        ("é\n", '"\\u00e9\\n"'),
    ],
)
def test_scalars_are_written_as_pythons_json_writes_them_in_ascii(value: object, text: str) -> None:
    assert encode_scalar(value) == text
    assert encode_scalar(value).isascii()


def test_a_lone_surrogate_is_escaped_not_an_error() -> None:
    text = encode_scalar("a\ud800b")
    assert text == '"a\\ud800b"'
    assert json.loads(text) == "a\ud800b"


def test_subclasses_of_float_int_and_str_are_stored_as_the_plain_value() -> None:
    class Meters(float):
        pass

    class Count(int):
        pass

    class Name(str):
        pass

    assert encode_scalar(Meters(1.5)) == "1.5"
    assert encode_scalar(Meters(float("nan"))) == "NaN"
    assert encode_scalar(Count(3)) == "3"
    assert encode_scalar(Name("x")) == '"x"'


@pytest.mark.parametrize("value", [[1], (1,), range(2), {1}, frozenset({1}), iter([1])])
def test_sequences_are_refused_with_a_hint_to_use_log_list(value: object) -> None:
    with pytest.raises(InvalidMetricValue, match=r"run\.log_list.*metric 'acc'") as info:
        encode_scalar(value, "acc")
    assert info.value.name == "acc"


def test_any_other_object_is_stored_as_its_repr() -> None:
    assert json.loads(encode_scalar(Decimal("1.10"))) == "Decimal('1.10')"
    assert json.loads(encode_scalar({"a": 1})) == "{'a': 1}"


def test_numpy_scalars_are_their_python_value_and_arrays_are_refused() -> None:
    np = pytest.importorskip("numpy")
    assert encode_scalar(np.float32(0.5)) == "0.5"
    assert encode_scalar(np.int64(-3)) == "-3"
    assert encode_scalar(np.bool_(True)) == "true"
    assert encode_scalar(np.array(2.5)) == "2.5"  # a 0-d array is one value
    with pytest.raises(InvalidMetricValue, match="log_list"):
        encode_scalar(np.array([1.0, 2.0]), "v")


def test_plain_turns_numbers_into_python_numbers_and_leaves_the_rest() -> None:
    np = pytest.importorskip("numpy")

    class Meters(float):
        pass

    assert type(_plain(Meters(1.0))) is float
    assert type(_plain(np.int32(4))) is int and _plain(np.int32(4)) == 4
    assert _plain(np.bool_(False)) is False
    array = np.array([1, 2])
    assert _plain(array) is array
    assert _plain("text") == "text"


def test_steps_are_ints_or_none() -> None:
    assert encode_step(None) == "null"
    assert encode_step(7) == "7"
    assert encode_step(-(2**70)) == str(-(2**70))

    class Index:
        def __index__(self) -> int:
            return 12

    assert encode_step(Index()) == "12"


@pytest.mark.parametrize("step", [1.0, True, "3", [1]])
def test_a_step_that_is_not_an_int_is_refused_naming_the_metric(step: object) -> None:
    with pytest.raises(InvalidMetricValue, match=r"step must be an int .* metric 'loss'"):
        encode_step(step, "loss")
