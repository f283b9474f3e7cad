"""Logging state shared by the stdlib, structlog and diagnostics tests: saved before a test, restored after it;
RunHandler with its Python ``handle``, and the check that the C one was built."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import runlog
from runlog._capture import driverlog as _driverlog
from runlog._capture import excepthook as _excepthook
from runlog._capture import hotpath

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


class PythonRunHandler(runlog.RunHandler):
    """RunHandler with its Python ``handle`` (``_handle_py``): what it is where the C module was not built."""

    handle = runlog.RunHandler._handle_py  # type: ignore[assignment]


def require_c_handle() -> None:
    """Fail where RUNLOG_REQUIRE_C is set (as ``make test`` sets it where a C compiler is) but the C ``handle``
    (``runlog._capture._hot``) was not built; skip elsewhere without it."""
    if not hotpath.NATIVE:
        if os.environ.get("RUNLOG_REQUIRE_C"):
            pytest.fail("RUNLOG_REQUIRE_C is set but runlog._capture._hot was not built: reinstall (pip install -e .)")
        pytest.skip("runlog._capture._hot was not built (no C compiler at install)")
