"""Seams: where the layers above the run model plug into it, so that it never imports them.

The run model sits just above the store. A run cannot import what is built on it (capture,
script runs, uploaders), yet it must reach them at a few moments: when it starts (install the
exception hooks, write records buffered before it, start its uploader and system-metrics
sampler), when it ends, when ``wait_for_completion`` streams a submitted job. At each such
moment it calls a seam of :data:`seams`, which the upper layer fills in when
``runlog/__init__.py`` wires the package together — so every seam is filled before any user
code can make a run. A seam nobody filled raises a RuntimeError naming the seam.

This is the same shape as httpx's transport: the layer below defines the interface; the layer
above provides the implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .metrics import MetricPoint
    from .run import Run

__all__ = ["Sampler", "Seams", "Uploads", "seams"]


class Sampler(Protocol):
    """A running system-metrics sampler (``runlog._capture.sysmetrics``)."""

    interval: float

    def stop(self) -> None: ...


class Uploads(Protocol):
    """The uploaders (``runlog._upload``) as the run model sees them."""

    def attach(self, run: Run) -> None: ...

    def finish(self, run: Run) -> None: ...

    def remote_run_id(self, run: Run, wait: float | None = ...) -> str | None: ...

    def remote_metrics(self, run: Run, name: str | None = ...) -> dict[str, list[MetricPoint]]: ...


def _unfilled(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"runlog's seam {name!r} was not filled: import runlog (runlog/__init__.py wires the layers)")

    return call


@dataclass
class Seams:
    """The run model's calls into the layers above it (see the module docstring)."""

    #: A run started in this process became active (capture: exception hooks, buffered records).
    run_started: list[Callable[[Run], None]] = field(default_factory=list)
    #: The run a submitted script or a rank of a multi-process job was started for, from the
    #: environment (script runs); ``None`` when the environment names none.
    environment_run: Callable[[], Run | None] = field(default_factory=lambda: _unfilled("environment_run"))
    #: A new local run for ``Run.get_context()`` outside any run (the run model's top: workspace).
    offline_run: Callable[[], Run] = field(default_factory=lambda: _unfilled("offline_run"))
    #: ``Experiment.submit(config, tags, **kwargs)`` (script runs).
    submit: Callable[..., Run] = field(default_factory=lambda: _unfilled("submit"))
    #: ``Run.wait_for_completion(...)`` (script runs: streams the driver logs).
    wait_for_completion: Callable[..., dict[str, Any]] = field(default_factory=lambda: _unfilled("wait_for_completion"))
    #: Stop a submitted script's processes before ``run.cancel()`` marks it Canceled (script runs).
    terminate: Callable[[Run], None] = field(default_factory=lambda: _unfilled("terminate"))
    #: Start sampling system metrics for a run, or ``None`` when switched off (capture).
    start_sampler: Callable[[Run, bool | None, Callable[[], Iterable[int]], Mapping[str, str] | None], Sampler | None] = field(
        default_factory=lambda: _unfilled("start_sampler")
    )
    #: The uploaders (imported on first use: they pull in an HTTP stack).
    uploads: Uploads | None = None

    def upload(self) -> Uploads:
        if self.uploads is None:
            raise RuntimeError("runlog's seam 'uploads' was not filled: import runlog (runlog/__init__.py wires the layers)")
        return self.uploads


#: The one registry of this process.
seams = Seams()

