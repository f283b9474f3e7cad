"""What RunLogExporter and RunMetricExporter share: the export guard, the target run, locks after fork."""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from .._model.context import active_run

if TYPE_CHECKING:
    from .._model.run import Run

__all__ = [
    "WRITTEN_MARK",
    "Exporting",
    "exporters",
    "hex_span_id",
    "hex_trace_id",
    "in_export",
    "is_runlog_scope",
    "target_run",
    "written_by_runlog",
]

_state = threading.local()
# Every exporter, so that a forked child gets fresh locks (a parent's export thread may hold one
# at the moment of the fork, and it does not exist in the child).
exporters: weakref.WeakSet[Any] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for exporter in list(exporters):
        exporter._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def in_export() -> bool:
    return getattr(_state, "exporting", False)


class Exporting:
    """Marks this thread as inside an export, so that anything it logs is not exported again."""

    __slots__ = ("_previous",)

    def __enter__(self) -> None:
        self._previous = getattr(_state, "exporting", False)
        _state.exporting = True

    def __exit__(self, *exc: object) -> None:
        _state.exporting = self._previous


def is_runlog_scope(name: str | None) -> bool:
    return name is not None and (name == "runlog" or name.startswith("runlog."))


WRITTEN_MARK = "_runlog_written"  # set on a stdlib LogRecord by RunHandler / runlog.structlog


def written_by_runlog(record: Any) -> bool:
    attributes = record.log_record.attributes
    if attributes is None:
        return False
    # BoundedAttributes: `in` is Mapping.__contains__ (its __getitem__ raising KeyError for the usual
    # record, which has no mark); its plain dict answers at once.
    inner = getattr(attributes, "_dict", None)
    return WRITTEN_MARK in (inner if inner.__class__ is dict else attributes)


def target_run(explicit: Run | None) -> Run | None:
    if explicit is not None:
        return None if explicit._finished else explicit

    return active_run()


def hex_trace_id(trace_id: int | None) -> str:
    return f"{trace_id:032x}" if trace_id else ""


def hex_span_id(span_id: int | None) -> str:
    return f"{span_id:016x}" if span_id else ""

