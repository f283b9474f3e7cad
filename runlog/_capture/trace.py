"""The trace context of the current OpenTelemetry span, without importing OpenTelemetry.

Log lines written by runlog (the logging handler, the structlog processor, the
OpenTelemetry exporters) carry ``trace_id`` and ``span_id`` when the program uses
OpenTelemetry and a span is recording. The lookup costs one dictionary probe when
OpenTelemetry is not loaded: runlog never imports it for this.
"""

from __future__ import annotations

import sys

__all__ = ["current_trace_ids", "with_trace_suffix"]


def current_trace_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the recording span of this context, as lowercase hex, else ``None``.

    The ids are 32 and 16 hex digits (W3C trace-context form). ``None`` when
    ``opentelemetry.trace`` has not been imported by the program, when there is no
    current span, or when the current span is not recording (e.g. not sampled).
    """
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    try:
        span = trace.get_current_span()
        if not span.is_recording():
            return None
        ctx = span.get_span_context()
        if not ctx.is_valid:
            return None
        return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
    except Exception:  # a broken tracer must never break logging
        return None


def with_trace_suffix(text: str, ids: tuple[str, str]) -> str:
    """``text`` with `` trace_id=... span_id=...`` at the end of its first line."""
    suffix = f" trace_id={ids[0]} span_id={ids[1]}"
    i = text.find("\n")
    return text + suffix if i < 0 else text[:i] + suffix + text[i:]
