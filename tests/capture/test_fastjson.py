"""runlog._capture.fastjson: the C encoder built once answers exactly as JSONEncoder.encode (text or error)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runlog._capture.fastjson import encoder


class Odd:
    """A value JSON cannot hold: ``default`` gets it."""

    def __repr__(self) -> str:
        return "<odd>"


def _outcome(encode: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", encode(value)
    except Exception as exc:
        return "error", (type(exc), str(exc))


leaves = st.one_of(
    st.text(max_size=6),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.builds(Odd),
)
keys = st.one_of(
    st.text(max_size=5),
    st.integers(0, 3),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.tuples(st.integers()),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(values, st.booleans(), st.sampled_from([(", ", ": "), (",", ":")]), st.sampled_from(["repr", "fails"]))
def test_the_same_text_or_error_as_jsonencoder_encode(
    value: Any, ascii_only: bool, separators: tuple[str, str], default: str
) -> None:
    """Any value (non-str keys, tuple keys JSON refuses, NaN and infinities, values only ``default`` takes or a
    ``default`` that fails): the text, or the type and message of the error, of ``JSONEncoder.encode``."""

    def failing(obj: Any) -> Any:
        raise TypeError(f"no JSON for {obj!r}")

    chosen = repr if default == "repr" else failing
    stdlib = json.JSONEncoder(ensure_ascii=ascii_only, default=chosen, separators=separators).encode
    fast = encoder(chosen, ensure_ascii=ascii_only, separators=separators)
    assert _outcome(fast, value) == _outcome(stdlib, value)


@pytest.mark.parametrize("shape", ["dict", "list"])
def test_a_cycle_is_the_stdlibs_circular_reference_error(shape: str) -> None:
    value: Any = {} if shape == "dict" else []
    if shape == "dict":
        value["self"] = value
    else:
        value.append(value)
    with pytest.raises(ValueError, match="Circular reference detected"):
        encoder(repr)(value)


def test_the_c_encoder_is_used_where_python_has_it() -> None:
    """Where ``json.encoder.c_make_encoder`` exists (CPython), the function is not ``encode`` itself."""
    fast = encoder(repr)
    if json.encoder.c_make_encoder is None:  # type: ignore[attr-defined]
        assert getattr(fast, "__self__", None) is not None
    else:
        assert getattr(fast, "__self__", None) is None and fast({"a": 1.5}) == '{"a": 1.5}'
