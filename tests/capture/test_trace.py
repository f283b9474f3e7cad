"""Tests of runlog._capture.trace: the current span's ids, without importing OpenTelemetry."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from runlog._capture.trace import current_trace_ids


class _Context:
    def __init__(self, trace_id: int, span_id: int, valid: bool = True) -> None:
        self.trace_id, self.span_id, self.is_valid = trace_id, span_id, valid


class _Span:
    def __init__(self, ctx: _Context, recording: bool = True) -> None:
        self._ctx, self._recording = ctx, recording

    def is_recording(self) -> bool:
        return self._recording

    def get_span_context(self) -> _Context:
        return self._ctx


def _fake_trace(monkeypatch: pytest.MonkeyPatch, current: Any) -> None:
    """Stand in for ``opentelemetry.trace`` with a ``get_current_span`` giving ``current`` (or raising it)."""
    module = types.ModuleType("opentelemetry.trace")

    def get_current_span() -> Any:
        if isinstance(current, BaseException):
            raise current
        return current

    module.get_current_span = get_current_span  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", module)


def test_none_when_opentelemetry_is_not_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # as if never imported
    assert current_trace_ids() is None


def test_ids_are_zero_padded_lowercase_hex(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_trace(monkeypatch, _Span(_Context(0xAB, 0x1)))
    assert current_trace_ids() == ("0" * 30 + "ab", "0" * 15 + "1")


@pytest.mark.parametrize(
    "span",
    [_Span(_Context(1, 2), recording=False), _Span(_Context(1, 2, valid=False)), RuntimeError("broken tracer")],
    ids=["not-recording", "invalid-context", "tracer-raises"],
)
def test_none_for_a_span_that_is_not_recording_invalid_or_broken(monkeypatch: pytest.MonkeyPatch, span: Any) -> None:
    _fake_trace(monkeypatch, span)
    assert current_trace_ids() is None


def test_the_ids_of_a_real_sdk_span_and_none_outside_it() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    assert current_trace_ids() is None
    with tracer.start_as_current_span("step") as span:
        ctx = span.get_span_context()
        assert current_trace_ids() == (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert current_trace_ids() is None
