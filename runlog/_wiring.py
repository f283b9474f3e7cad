"""Wires the package together: fills the run model's seams (:mod:`runlog._model.hooks`) with the
layers built on it. ``runlog/__init__.py`` imports this once, so the seams are filled before
any user code can make a run.

| seam | filled by |
|---|---|
| ``run_started`` | capture: exception hooks, records logged before the run |
| ``environment_run`` | script runs: the run named by ``RUNLOG_RUN_ID`` or a torchrun rendezvous |
| ``offline_run`` | the run model's workspace: ``Run.get_context()`` outside any run |
| ``submit``, ``wait_for_completion``, ``terminate`` | script runs |
| ``start_sampler`` | capture: the system-metrics sampler |
| ``uploads`` | the uploaders, imported on first use |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._capture import lifecycle, sysmetrics
from ._jobs import environment, processes, stream, submit
from ._model import workspace
from ._model.hooks import seams

if TYPE_CHECKING:
    from ._model.metrics import MetricPoint
    from ._model.run import Run

__all__ = ["wire"]


class _Uploads:
    """``runlog._upload`` imported on its first use only: it pulls in tenacity and an HTTP client
    (about 30 ms), which a run that uploads nothing never needs."""

    def attach(self, run: Run) -> None:
        # deferred: see the class docstring
        from ._upload import attach

        attach(run)

    def finish(self, run: Run) -> None:
        # deferred: see the class docstring
        from ._upload import finish

        finish(run)

    def remote_run_id(self, run: Run, wait: float | None = None) -> str | None:
        # deferred: see the class docstring
        from ._upload import remote_run_id

        return remote_run_id(run) if wait is None else remote_run_id(run, wait=wait)

    def remote_metrics(self, run: Run, name: str | None = None) -> dict[str, list[MetricPoint]]:
        # deferred: see the class docstring
        from ._upload import remote_metrics

        return remote_metrics(run, name)


def wire() -> None:
    """Fill every seam (idempotent)."""
    if lifecycle.on_run_started not in seams.run_started:
        seams.run_started.append(lifecycle.on_run_started)
    seams.environment_run = environment.environment_run
    seams.offline_run = workspace.offline_run
    seams.submit = submit.submit
    seams.wait_for_completion = stream.wait_for_completion
    seams.terminate = processes.terminate_run_processes
    seams.start_sampler = sysmetrics.start_for_run
    seams.uploads = _Uploads()
