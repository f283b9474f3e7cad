"""Which formatter a ``RunHandler`` formats with, and runlog's own: :class:`RunFormatter`.

- :class:`RunFormatter`: ``basicConfig``'s format (:data:`DEFAULT_FORMAT`) with UTC ISO-8601
  timestamps; the default of ``RunHandler`` and the format of the run's system log.
- :func:`effective_formatter`: the user's formatter, runlog's default when there is none (or
  basicConfig's own default), or a copy whose ``asctime`` is runlog's UTC time (docs/logging.md,
  "Your format").
- :func:`trace_mode`: whether a line gets the OpenTelemetry span ids as a suffix, as fields of
  the format, or not at all (JSON formatters carry them themselves).
"""

from __future__ import annotations

import logging
from typing import Any

from .fastformat import utc_format_time

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_FORMATTER",
    "SYSTEM_FORMAT",
    "TRACE_FIELDS",
    "TRACE_NONE",
    "TRACE_SUFFIX",
    "NoStyle",
    "RunFormatter",
    "class_time",
    "effective_formatter",
    "render_event",
    "trace_mode",
]

DEFAULT_FORMAT = "%(asctime)s %(levelname)s:%(name)s:%(message)s"
SYSTEM_FORMAT = "%(asctime)s %(levelname)s:%(name)s:pid %(process)d:%(message)s"


class RunFormatter(logging.Formatter):
    """``logging.Formatter`` with ``basicConfig``'s format and UTC ISO-8601 timestamps with milliseconds.

    A structlog event dict reaching it (structlog wired to stdlib without a
    ``ProcessorFormatter``) is rendered as ``event key=value ...``.
    """

    def __init__(
        self, fmt: str | None = None, datefmt: str | None = None, style: str = "%", validate: bool = True
    ) -> None:
        super().__init__(fmt or DEFAULT_FORMAT, datefmt, style, validate)  # type: ignore[arg-type]

    formatTime = utc_format_time

    def format(self, record: logging.LogRecord) -> str:
        msg = record.msg
        if msg.__class__ is dict:
            record = logging.makeLogRecord(record.__dict__)
            record.msg, record.args = render_event(msg), ()
        return super().format(record)


def render_event(event: dict[str, Any]) -> str:
    parts = [str(event.get("event", ""))]
    parts.extend(f"{k}={v!r}" for k, v in event.items() if k != "event" and not k.startswith("_"))
    return " ".join(parts)


TRACE_SUFFIX, TRACE_FIELDS, TRACE_NONE = 0, 1, 2  # where a line gets the span ids (trace_mode)


# basicConfig's own format when it is given none (per style): a RunHandler handed a formatter with
# exactly this format uses runlog's default instead (the user named no format; see docs/logging.md).
_BASIC_FORMATS = frozenset(
    (style, fmt)
    for style, fmt in (
        (logging.PercentStyle, logging.BASIC_FORMAT),
        (logging.StrFormatStyle, "{levelname}:{name}:{message}"),
        (logging.StringTemplateStyle, "${levelname}:${name}:${message}"),
    )
)
_INSTANCE_OVERRIDES = frozenset(("format", "formatMessage", "formatTime", "usesTime", "converter"))


def class_time(cls: type[logging.Formatter]) -> tuple[Any, ...]:
    """The time settings of formatters of class ``cls`` (RunHandler watches them: see
    ``runlog.stdlib.RunHandler._replan``)."""
    return (cls.formatTime, cls.converter, cls.default_time_format, cls.default_msec_format)


_STDLIB_TIME = class_time(logging.Formatter)


class _UtcAsctime(logging.Formatter):
    """A copy of a user's ``logging.Formatter`` whose ``asctime`` (no ``datefmt``) is runlog's UTC time."""

    formatTime = utc_format_time


def effective_formatter(formatter: logging.Formatter | None) -> logging.Formatter:
    """What RunHandler formats with when its formatter is ``formatter`` (see docs/logging.md, "Your format").

    - None (nobody gave the handler one): runlog's default, ``RunFormatter()``;
    - a ``logging.Formatter`` with basicConfig's own default format (what ``basicConfig`` hands
      every handler when it is given no ``format=``): ``RunFormatter`` with its ``datefmt``;
    - a ``logging.Formatter`` whose format uses ``asctime``, without ``datefmt`` and with the
      stdlib's time settings (``formatTime``, ``converter``, default time formats) unchanged: a copy
      whose ``asctime`` is runlog's UTC ISO-8601 time (the user's formatter is not changed: a
      console handler sharing it keeps the local time);
    - any other formatter: itself.
    """
    if formatter is None:
        return DEFAULT_FORMATTER
    if type(formatter) is not logging.Formatter or not _INSTANCE_OVERRIDES.isdisjoint(formatter.__dict__):
        return formatter
    style = getattr(formatter, "_style", None)
    if getattr(style, "_defaults", None):
        return formatter
    if (type(style), getattr(style, "_fmt", None)) in _BASIC_FORMATS:
        return RunFormatter(None, formatter.datefmt)
    cls = logging.Formatter
    if (
        not formatter.datefmt
        and formatter.usesTime()
        and (cls.formatTime, cls.converter, formatter.default_time_format, formatter.default_msec_format)
        == _STDLIB_TIME
    ):
        utc = _UtcAsctime.__new__(_UtcAsctime)
        utc.__dict__.update(formatter.__dict__)
        return utc
    return formatter


class NoStyle:
    """The style kept for a formatter RunHandler does not watch (not a ``logging.Formatter``)."""

    _fmt = None


def trace_mode(formatter: logging.Formatter | None) -> int:
    """Where a line of ``formatter`` gets the current span's ids: ``TRACE_FIELDS`` (its format names
    ``trace_id``/``span_id``: set on the record), ``TRACE_NONE`` (a JSON or structlog formatter: they
    carry them themselves) or ``TRACE_SUFFIX`` (appended to the line)."""
    fmt = str(getattr(formatter, "_fmt", "") or "")
    if "trace_id" in fmt or "span_id" in fmt:
        return TRACE_FIELDS
    names = {c.__name__ for c in type(formatter).__mro__}
    if names & {"RunJsonFormatter", "BaseJsonFormatter", "JsonFormatter", "ProcessorFormatter"}:
        return TRACE_NONE
    return TRACE_SUFFIX


DEFAULT_FORMATTER = RunFormatter()
