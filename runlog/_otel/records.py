"""Exported OpenTelemetry log records -> driver-log lines (text or JSON) and tagged metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .._capture.driverlog import format_utc_ns
from .._capture.fastjson import encoder
from .export import WRITTEN_MARK, hex_span_id, hex_trace_id

__all__ = ["METRIC_ATTRIBUTE_PREFIX", "STEP_ATTRIBUTE", "format_record", "tagged_metrics"]

METRIC_ATTRIBUTE_PREFIX = "runlog.metric."
"""Attributes named ``runlog.metric.<name>`` are metric values of the record."""
STEP_ATTRIBUTE = "runlog.step"
"""The step of a record's tagged metrics (also ``step`` beside a ``metrics`` mapping)."""

_utc_time = format_utc_ns  # the timestamp of runlog's driver-log lines, shared with RunHandler


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, list)):
        return list(value)
    return repr(value)


def _jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` with mapping keys JSON can hold, and no cycles (deep or odd parts as their repr)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth > 20:
        return repr(value)
    if isinstance(value, Mapping):
        return {
            (k if k is None or isinstance(k, (str, int, float, bool)) else repr(k)): _jsonable(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (tuple, list)):
        return [_jsonable(v, depth + 1) for v in value]
    return _json_default(value)


# json.dumps(value, ensure_ascii=False, default=_json_default) without building an encoder per call
# (json.dumps makes a new JSONEncoder whenever an option is given, and encode a new C encoder per value).
_encode = encoder(_json_default)


def _dumps(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, default=_json_default)`` that never fails (a line's attributes,
    a body, a JSON line): a record that JSON cannot hold as such must not cost its batch."""
    try:
        return _encode(value)
    except (TypeError, ValueError, RecursionError):  # e.g. tuple keys, a cycle
        return _encode(_jsonable(value))


_CACHE_LIMIT = 4096  # attribute keys whose kind is kept (_kinds): programs use a few dozen


def _severity(log_record: Any) -> str:
    text = log_record.severity_text
    if text:
        return str(text)
    number = log_record.severity_number
    if number is not None and number.value:
        return str(number.name)
    return "UNSPECIFIED"


def _plain(attributes: Any) -> Mapping[str, Any]:
    """The attributes as a plain mapping (``BoundedAttributes`` iterates under a lock: slow)."""
    if attributes is None:
        return {}
    inner = getattr(attributes, "_dict", None)  # (first: `not attributes` is a Python __len__ call)
    if inner.__class__ is dict:
        return inner  # type: ignore[no-any-return]
    return dict(attributes) if attributes else {}


# Attributes that the SDK's LoggingHandler adds to every record: noise on a text line.
_CODE_PREFIX = "code."
_STACKTRACE = "exception.stacktrace"
# What a text line does with an attribute, by its name (see _kind_of); kept per name in _kinds.
_HIDDEN, _STACK, _SHOWN, _SHOWN_TAGGED, _SHOWN_PREFIXED = range(5)
_kinds: dict[str, int] = {}


def _kind_of(key: str) -> int:
    """The kind of attribute ``key`` on a text line: hidden (``code.*``, runlog's written mark), the stack
    trace, or shown (``metrics``: tagged values; ``runlog.*``: tagged values by name)."""
    if key.__class__ is not str:
        return _SHOWN
    if key.startswith(_CODE_PREFIX) or key == WRITTEN_MARK:
        kind = _HIDDEN
    elif key == _STACKTRACE:
        kind = _STACK
    elif key == "metrics":
        kind = _SHOWN_TAGGED
    elif key.startswith("runlog."):
        kind = _SHOWN_PREFIXED
    else:
        kind = _SHOWN
    if len(_kinds) < _CACHE_LIMIT:
        _kinds[key] = kind
    return kind


class Converted:
    """One exported record, converted once: its line(s), tagged metrics, step and time (``ns``)."""

    __slots__ = ("line", "metrics", "ns", "scope", "step")

    def __init__(self, record: Any, json_lines: bool) -> None:
        log_record = record.log_record
        scope_obj = record.instrumentation_scope
        self.scope: str = scope_obj.name if scope_obj is not None else ""
        attributes = _plain(log_record.attributes)
        body = log_record.body
        body_is_str = body.__class__ is str
        self.metrics: dict[str, Any] = {}
        self.step: Any = None
        if json_lines or not body_is_str:
            self.metrics, self.step = tagged_metrics(body, attributes)
        self.ns = ns = log_record.timestamp or log_record.observed_timestamp or time.time_ns()
        trace_id = log_record.trace_id
        if json_lines:
            obj: dict[str, Any] = {
                "time": _utc_time(ns),
                "level": _severity(log_record),
                "logger": self.scope,
                "message": body if body_is_str else _dumps(body),
            }
            for key, value in attributes.items():
                if key != WRITTEN_MARK:
                    obj.setdefault(key, value)
            if trace_id:
                obj["trace_id"] = hex_trace_id(trace_id)
                obj["span_id"] = hex_span_id(log_record.span_id)
            self.line = _dumps(obj) + "\n"
            return
        message = body if body_is_str else ("" if body is None else _dumps(body))
        severity = log_record.severity_text
        if severity.__class__ is not str or not severity:
            severity = _severity(log_record)
        line = f"{_utc_time(ns)} {severity}:{self.scope}:{message}"
        stacktrace = None
        if attributes:
            shown = None
            prefixed = tagged = False
            kinds = _kinds
            for key, value in attributes.items():
                kind = kinds.get(key)
                if kind is None:
                    kind = _kind_of(key)
                if kind == _HIDDEN:
                    continue
                if kind == _STACK:
                    stacktrace = value
                    continue
                if kind == _SHOWN_TAGGED:
                    tagged = True
                elif kind == _SHOWN_PREFIXED:
                    prefixed = True
                if shown is None:
                    shown = {}
                shown[key] = value
            if shown:
                line = f"{line} {_dumps(shown)}"
            if prefixed and body_is_str:
                self.metrics, self.step = tagged_metrics(body, attributes)
            elif tagged and body_is_str:  # tagged_metrics of a str body and a `metrics` attribute, inlined
                found = attributes["metrics"]
                if isinstance(found, Mapping):
                    self.metrics, self.step = dict(found), attributes.get("step")
        if trace_id:
            line = f"{line} trace_id={trace_id:032x} span_id={hex_span_id(log_record.span_id) or '0' * 16}"
        if stacktrace:
            line = f"{line}\n{str(stacktrace).rstrip()}"
        self.line = line + "\n"


def format_record(record: Any, *, json_lines: bool = False) -> str:
    """The driver-log line(s) of one exported record, ending with a newline.

    Text (the default)::

        2026-11-27T14:28:49.123Z INFO:app.train:epoch done {"epoch": 3} trace_id=<32 hex> span_id=<16 hex>

    followed by the exception's stack trace, if the record has one (the layout of
    ``RunHandler``'s default format). JSON lines (``json_lines=True``): one object with
    ``time``, ``level``, ``logger`` (the scope), ``message``, the attributes, ``trace_id``
    and ``span_id`` (the keys of ``RunHandler(json=True)``).
    """
    return Converted(record, json_lines).line


def tagged_metrics(body: Any, attributes: Mapping[str, Any] | None) -> tuple[dict[str, Any], Any]:
    """The tagged metrics of a record and their step (see ``docs/opentelemetry.md``).

    Three forms, merged in this order: a ``metrics`` mapping (and ``step``) in a mapping
    body; a ``metrics`` mapping (and ``step``) attribute, which is what the SDK's
    ``LoggingHandler`` makes of ``extra=runlog.metrics(...)``; and attributes named
    ``runlog.metric.<name>`` with ``runlog.step``.
    """
    metrics: dict[str, Any] = {}
    step = None
    if body.__class__ is not str and isinstance(body, Mapping):
        found = body.get("metrics")
        if isinstance(found, Mapping):
            metrics.update(found)
            step = body.get("step", step)
    if attributes:
        found = attributes.get("metrics")
        if found is not None and isinstance(found, Mapping):
            metrics.update(found)
            step = attributes.get("step", step)
        prefixed = False
        for key in attributes:
            if key[:7] == "runlog.":
                prefixed = True
                if key.startswith(METRIC_ATTRIBUTE_PREFIX) and len(key) > len(METRIC_ATTRIBUTE_PREFIX):
                    metrics[key[len(METRIC_ATTRIBUTE_PREFIX) :]] = attributes[key]
        if prefixed and STEP_ATTRIBUTE in attributes:
            step = attributes[STEP_ATTRIBUTE]
    return metrics, step
