"""The JSON-lines formatter of ``RunHandler(json=True)`` (python-json-logger, imported only when used)."""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from .driverlog import format_utc
from .trace import current_trace_ids

__all__ = ["DEFAULT_JSON_FORMAT", "RunJsonFormatter"]

DEFAULT_JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


class RunJsonFormatter(JsonFormatter):
    """One JSON object per record: ``time`` (UTC ISO 8601), ``level``, ``logger``, ``message``, every ``extra``.

    Tagged metrics appear as ``metrics`` and ``step``; ``trace_id`` and ``span_id``
    are added while an OpenTelemetry span is recording; exceptions as ``exc_info``.
    """

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", dict(_RENAMES))
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(fmt or DEFAULT_JSON_FORMAT, datefmt, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        return format_utc(record.created)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        ids = current_trace_ids()
        if ids is not None:
            log_data["trace_id"], log_data["span_id"] = ids
