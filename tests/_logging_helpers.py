"""Logging state shared by the stdlib, structlog and diagnostics tests: saved before a test, restored after it."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from runlog._capture import driverlog as _driverlog
from runlog._capture import excepthook as _excepthook

LoggerState = dict[str, tuple[list[logging.Handler], int, bool]]


def _logger_state() -> LoggerState:
    loggers = [v for v in logging.root.manager.loggerDict.values() if isinstance(v, logging.Logger)]
    return {lg.name: (lg.handlers[:], lg.level, lg.propagate) for lg in loggers}


def _restore_loggers(saved: LoggerState) -> None:
    """Named loggers get back their handlers, level and propagate flag (conftest restores the root)."""
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and not name.startswith("runlog"):
            handlers, level, propagate = saved.get(name, ([], logging.NOTSET, True))
            lg.handlers[:] = handlers
            lg.level, lg.propagate = level, propagate
    logging.root.manager._clear_cache()  # type: ignore[attr-defined]


@contextmanager
def restored_logging() -> Iterator[None]:
    """Named loggers, the exception hooks and the pending buffer are put back when the block ends."""
    saved = sys.excepthook, threading.excepthook
    loggers = _logger_state()
    yield
    _restore_loggers(loggers)
    _excepthook.uninstall()
    sys.excepthook, threading.excepthook = saved
    _driverlog._pending.clear()
