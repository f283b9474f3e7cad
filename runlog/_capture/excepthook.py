"""Uncaught exceptions reach the active run's driver log, and fail the run.

:func:`install` wraps ``sys.excepthook`` and ``threading.excepthook`` once (when
the first run starts in this process or the first :class:`runlog.RunHandler` is
created); each wrapper writes the traceback to the driver log of the active run,
records the exception with ``runlog._model.context.note_uncaught`` and then calls the
hook that was installed before it. :func:`uninstall` puts the previous hooks back
(only if nobody wrapped ours since).

- Main thread: the active run is marked **Failed** at once when this process is
  the run's main process (it created the run, or it is the submitted script),
  right after the previous hook has printed the traceback (ending a run may wait
  for its outputs and uploads); a worker process only writes the traceback.
- Other threads: the traceback is written and the exception noted, so a run that
  ends at interpreter exit ends Failed; the run is *not* failed at once, because
  that would make the main thread's next ``run.log`` raise while it may still be
  training. A run the program completes explicitly keeps its explicit status.
- When the process's stderr is captured into the driver log already
  (``RUNLOG_OUTPUT_CAPTURED=1``) and the previous hook is Python's default (which
  prints the traceback to stderr), the traceback is not written a second time.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from types import TracebackType
from typing import Any

from .._diagnostics import get_logger
from .._model import context as _context
from .driverlog import ENV_OUTPUT_CAPTURED, drain_deferred, driver_log_name, format_utc, is_main_process, thread_state

__all__ = ["install", "installed", "uninstall"]

_log = get_logger("runlog.stdlib")
_lock = threading.Lock()
_prev_sys: Any = None
_prev_threading: Any = None
_installed = False
json_lines = False  # set when a RunHandler(json=True) exists: tracebacks are written as JSON lines


def installed() -> bool:
    return _installed


def install() -> None:
    """Wrap ``sys.excepthook`` and ``threading.excepthook`` (once; a second call does nothing)."""
    global _prev_sys, _prev_threading, _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        _prev_sys, _prev_threading = sys.excepthook, threading.excepthook
        sys.excepthook = _sys_hook
        threading.excepthook = _threading_hook
        _installed = True
    _log.debug("installed sys.excepthook and threading.excepthook: uncaught exceptions go to the driver log")


def uninstall() -> None:
    """Restore the hooks that were installed before :func:`install` (if ours are still in place)."""
    global _installed
    with _lock:
        if not _installed:
            return
        if sys.excepthook is _sys_hook:
            sys.excepthook = _prev_sys
        if threading.excepthook is _threading_hook:
            threading.excepthook = _prev_threading
        _installed = False


def _sys_hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    to_fail = None
    try:
        to_fail = _record(exc_type, exc, tb, threading.current_thread().name, main_thread=True,
                          default_hook=_prev_sys is sys.__excepthook__)  # fmt: skip
    except Exception:  # the hook must never hide the original error
        pass
    try:
        # Printed first: ending the run may wait (outputs copied, uploads given their time).
        (_prev_sys or sys.__excepthook__)(exc_type, exc, tb)
    finally:
        if to_fail is not None:
            try:
                to_fail.fail(error_details=exc)
            except Exception:
                pass


def _threading_hook(args: Any) -> None:
    if args.exc_type is not SystemExit:
        try:
            name = args.thread.name if args.thread is not None else "thread"
            _record(args.exc_type, args.exc_value, args.exc_traceback, name, main_thread=False,
                    default_hook=_prev_threading is threading.__excepthook__)  # fmt: skip
        except Exception:
            pass
    (_prev_threading or threading.__excepthook__)(args)


def _record(
    exc_type: type[BaseException],
    exc: BaseException | None,
    tb: TracebackType | None,
    thread_name: str,
    *,
    main_thread: bool,
    default_hook: bool,
) -> Any:
    """Write the traceback to the active run's driver log; return the run to fail (main thread), if any."""
    if exc is None:
        exc = exc_type()
    _context.note_uncaught(exc)
    run = _context.active_run()
    if run is None:
        return None

    if not (default_hook and os.environ.get(ENV_OUTPUT_CAPTURED) == "1"):
        message = f"Uncaught exception in thread {thread_name} (pid {os.getpid()})"
        text = "".join(traceback.format_exception(exc_type, exc, tb)).rstrip("\n")
        now = time.time()
        if json_lines:
            line = json.dumps(
                {"time": format_utc(now), "level": "CRITICAL", "logger": "uncaught", "message": message, "exc_info": text},
                default=repr,
            )
        else:
            line = f"{format_utc(now)} CRITICAL:uncaught:{message}\n{text}"
        tls = thread_state
        was_busy, tls.busy = tls.busy, True
        try:
            run._writer.write_log(line + "\n", driver_log_name(run))
        finally:
            tls.busy = was_busy
        drain_deferred(tls)
    _log.debug("uncaught %s in thread %s recorded in run %s", exc_type.__name__, thread_name, run.id)
    if main_thread and is_main_process(run) and not run._finished:
        return run  # failed by _sys_hook once the previous hook has printed the traceback
    return None
