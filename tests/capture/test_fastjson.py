"""runlog._capture.fastjson: the C encoder built once answers exactly as JSONEncoder.encode (text or error)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
def test_a_cycle_is_the_stdlibs_circular_reference_error_found_at_once(shape: str) -> None:
    """A cycle is found as ``encode`` finds it (no recursion down to the limit, ``default`` called as often as
    ``encode`` calls it, twice in all), even in a thread with a small stack; the error has no other error as
    its context; the next value is encoded as usual."""
    calls: list[object] = []

    def default(obj: object) -> str:
        calls.append(obj)
        return repr(obj)

    value: Any = {"odd": Odd()} if shape == "dict" else [Odd()]
    if shape == "dict":
        value["self"] = value
    else:
        value.append(value)
    errors: list[BaseException] = []
    fast = encoder(default)

    def run() -> None:
        try:
            fast(value)
        except ValueError as exc:
            errors.append(exc)

    old = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old)
    assert [str(e) for e in errors] == ["Circular reference detected"]
    assert errors[0].__context__ is None
    assert len(calls) <= 2
    assert fast({"a": [1]}) == '{"a": [1]}'


def test_threads_encoding_shared_values_get_encodes_answers() -> None:
    """Threads share the markers: whatever one meets of another's, each gets exactly ``encode``'s text."""
    shared = {"a": [1, {"b": Odd()}], "c": {"d": [Odd(), 2.5]}}

    def slow_default(obj: object) -> str:
        time.sleep(0)  # (lets another thread run inside an encoding)
        return repr(obj)

    fast = encoder(slow_default)
    want = json.JSONEncoder(ensure_ascii=False, default=slow_default, separators=(", ", ": ")).encode(shared)
    bad: dict[str, Any] = {"k": Odd()}
    bad[""] = bad

    def work(i: int) -> list[str]:
        out = []
        for _ in range(300):
            out.append(fast(shared))
            if i == 0:
                with contextlib.suppress(ValueError):
                    fast(bad)  # (failures clear the shared markers meanwhile)
        return out

    with ThreadPoolExecutor(4) as pool:
        results = [text for texts in pool.map(work, range(4)) for text in texts]
    assert set(results) == {want}


def test_the_c_encoder_is_used_where_python_has_it() -> None:
    """Where ``json.encoder.c_make_encoder`` exists (CPython), the function is not ``encode`` itself."""
    fast = encoder(repr)
    if json.encoder.c_make_encoder is None:  # type: ignore[attr-defined]
        assert getattr(fast, "__self__", None) is not None
    else:
        assert getattr(fast, "__self__", None) is None and fast({"a": 1.5}) == '{"a": 1.5}'
