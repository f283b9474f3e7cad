"""What capture does when a run starts in this process (the run model's ``run_started`` seam).

The hooks for uncaught exceptions are installed (:mod:`runlog._capture.excepthook`), the SDK
loggers get the redacting filter, and the log records buffered while no run was active
(:func:`runlog._capture.driverlog.flush_pending`) are written into the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _diagnostics
from .._diagnostics import get_logger
from . import driverlog, excepthook

if TYPE_CHECKING:
    from .._model.run import Run

__all__ = ["on_run_started"]

_log = get_logger("runlog.stdlib")


def on_run_started(run: Run) -> None:
    """Hooks for uncaught exceptions, then the records logged before the run."""
    _diagnostics.install()  # SDK loggers created since import get the redacting filter too
    excepthook.install()
    if driverlog.has_pending():
        try:
            driverlog.flush_pending(run)
        except Exception as exc:  # never let a full disk stop a run from starting
            _log.warning(
                "could not write the records logged before run %s started: %s. "
                "Set the level of the 'runlog' logger to DEBUG for details",
                run.id,
                exc,
            )
