"""Reporting damage a reader skipped: once per file and kind of damage, as a WARNING on ``runlog.store``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

__all__ = ["report_damage"]

_log = logging.getLogger("runlog.store")

# Files whose damage was reported already (one WARNING per file and kind of damage).
_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()


def report_damage(source: Path | str | None, what: str, detail: str = "", *, message: str | None = None) -> None:
    """Say once per file (WARNING on ``runlog.store``) that part of it was skipped; DEBUG afterwards.

    ``message`` replaces the usual "skipped <what> in <file><detail>" text.
    """
    text = message or f"skipped {what} in {source if source is not None else 'an events file'}{detail}"
    if source is None:
        _log.debug("%s", text)
        return
    key = (str(source), what.split(" ", 1)[-1])
    with _reported_lock:
        first = key not in _reported
        _reported.add(key)
    if first:
        hint = "" if message else "; everything else of the run is read"
        _log.warning("%s%s. Set the runlog logger to DEBUG for details", text, hint)
    else:
        _log.debug("%s", text)
