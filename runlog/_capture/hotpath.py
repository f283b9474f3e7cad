"""The first base of :class:`runlog.RunHandler`: its usual record handled in C where that was built.

``HandlerBase`` holds the handler attributes the usual record reads (``FIELDS``: ``filters``,
``formatter`` and RunHandler's plan of the format and the sink) as slots. Where the C module
``runlog._capture._hot`` was built at install (a C compiler was there: ``hatch_build.py``), it is that
module's ``HotHandler``, whose ``handle`` writes the usual record itself (the checks, the call of the
compiled format, one ``write(2)``) and hands any other to ``RunHandler._handle_py``; ``NATIVE`` is then
True. Elsewhere it is a Python class with the same slots, and ``RunHandler.handle`` is ``_handle_py``.
``RUNLOG_PURE_PYTHON=1`` in the environment leaves the C module out (to compare the two).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = ["FIELDS", "NATIVE", "HandlerBase", "setup"]

FIELDS = (
    "filters",
    "formatter",
    "_source",
    "_compiled",
    "_sink",
    "_next_check",
    "_failing",
    "_watch",
    "_source_attrs",
    "_source_len",
    "_source_datefmt",
    "_source_style",
    "_source_fmt",
    "_trace_fields",
    "_trace_suffix",
    "_captured",
    "_emit_overridden",
)

_VERSION = 1  # the version of _hot.c this module was written for (an editable install may hold an older build)

_native: Any = None
if not os.environ.get("RUNLOG_PURE_PYTHON") and sys.platform != "win32":
    try:
        from . import _hot as _native
    except ImportError:
        _native = None
    if getattr(_native, "VERSION", None) != _VERSION:
        _native = None

NATIVE = _native is not None


class _PythonBase:
    """``HandlerBase`` without the C module: the same attributes; ``RunHandler.handle`` is ``_handle_py``."""

    __slots__ = FIELDS


if TYPE_CHECKING:  # (the C class has the same attributes)
    HandlerBase = _PythonBase
else:
    HandlerBase = _native.HotHandler if NATIVE else _PythonBase


def setup(
    record_class: type,
    current: Any,
    pending: Any,
    driverlog: Any,
    thread_state: Any,
    no_step: int,
    trace_ids: Callable[[], tuple[str, str] | None],
    trace_suffix: Callable[[str, tuple[str, str]], str],
    handler_globals: dict[str, Any],
) -> None:
    """Give the C ``handle`` what it reads besides the handler (a no-op without it): the record class
    it handles (``logging.LogRecord``), the ContextVar of the active run, the deque of records kept
    while no run is active, ``runlog._capture.driverlog`` (``mark_written``, ``structlog_used``), its
    per-thread state (``written_msg``), the store's ``NO_STEP``, and the functions that give a line the
    current OpenTelemetry span's ids (``runlog._capture.trace``), and the globals of ``runlog.stdlib``
    (its ``_formatting``: a record logged while its ``_handle_py`` formats one is formatted guarded)."""
    if NATIVE:
        _native.setup(
            record_class, current, pending, driverlog, thread_state, no_step, trace_ids, trace_suffix, handler_globals
        )
