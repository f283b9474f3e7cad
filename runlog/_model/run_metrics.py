"""Logging metrics into a run and reading them back: the metric half of :class:`runlog.Run`.

``run.log`` is the hot path: one call into the run's writer, nothing else unless the store
failed, in which case the write is kept in a bounded queue (:mod:`runlog._model.pending`) and
written when the store recovers (or raised at once in strict mode).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import RunFinishedError, StoreError
from .._store import RunReader, layout
from .._store.validation import check_key
from .._store.writer import RunWriter, _encode_str
from .metrics import (
    IMAGE,
    LIST,
    ROW,
    TABLE,
    MetricPoint,
    check_rank,
    columns_by_rank,
    encode_list,
    encode_row,
    encode_table,
    history,
    rank_columns,
    shape_metrics,
)
from .pending import PendingWrites

if TYPE_CHECKING:
    from .run import Run

__all__ = ["RunMetrics"]


class RunMetrics:
    """``log``, ``log_list``, ``log_row``, ``log_table``, ``log_image``, ``get_metrics`` (a base of ``Run``)."""

    id: str
    _dir: Path
    _reader: RunReader
    _writer: RunWriter
    _finished: bool
    _owner_pid: int
    _strict: bool
    _pending: PendingWrites | None

    if TYPE_CHECKING:

        @property
        def type(self) -> str: ...

        def get_status(self) -> str: ...

        def get_children(self, recursive: bool = ...) -> Iterator[Run]: ...

    def _check_open(self) -> None:
        if self._finished:
            status = self.get_status()
            raise RunFinishedError(
                f"run {self.id} is {status}: nothing more can be logged to it. Start a new run with "
                f"experiment.start_logging(), or log to a child run",
                run_id=self.id,
                status=status,
            )

    def _meta(self, kind: str, key: str | None, value: Any = None) -> None:
        # Only a running run started here keeps its meta file open; a fetched or ended one
        # (tagged after the fact, maybe one of thousands) opens and closes it per event.
        self._writer.meta(kind, key, value, keep_open=not self._finished and self._owner_pid == os.getpid())

    def _describe(self, name: str, description: str | None) -> None:
        # run.log(..., description=...) in a loop: one meta event per new text, not one per call.
        if description and self._writer.described.get(name) != description:
            self._meta("metric_description", name, str(description))
            self._writer.described[name] = description

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log one value of metric ``name`` (int, float, bool, str, None or a numpy scalar)."""
        if self._finished:
            self._check_open()
        pending = self._pending
        if pending is None or not len(pending):
            try:
                self._writer.scalar(name, value, step)
            except StoreError as exc:
                self._keep(exc, self._writer.scalar, (name, value, step), name)
        else:
            self._keep(None, self._writer.scalar, (name, value, step), name)
        if description:
            self._describe(name, description)

    def _metric(self, kind: str, name: str, value_json: str) -> None:
        pending = self._pending
        if pending is None or not len(pending):
            try:
                self._writer.metric(kind, name, value_json)
            except StoreError as exc:
                self._keep(exc, self._writer.metric, (kind, name, value_json), name)
        else:
            self._keep(None, self._writer.metric, (kind, name, value_json), name)

    def _keep(self, error: StoreError | None, write: Any, args: tuple[Any, ...], name: str) -> None:
        """A write the store did not take (``error``), or one queued behind such: kept in a bounded
        queue and written when the store recovers; in strict mode the error is raised instead."""
        if error is not None and self._strict:
            raise error
        pending = self._pending
        if pending is None:
            pending = self._pending = PendingWrites(self.id)
        pending.keep(write, args, str(name), time.time(), error)
        if error is None:
            pending.drain()

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        """Log a list of values (any iterable: list, tuple, range, generator, numpy array)."""
        self._check_open()
        self._metric(LIST, name, encode_list(name, value))
        self._describe(name, description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Append one row (column=value keywords) to table metric ``name``."""
        self._check_open()
        self._metric(ROW, name, encode_row(name, kwargs))
        self._describe(name, description)

    def log_table(self, name: str, value: Mapping[str, Iterable[Any]], description: str = "") -> None:
        """Log a table ``{column: [values]}``; all columns must have the same length."""
        self._check_open()
        self._metric(TABLE, name, encode_table(name, value))
        self._describe(name, description)

    def log_image(
        self, name: str, path: str | os.PathLike[str] | None = None, plot: Any = None, description: str = "", step: int | None = None
    ) -> None:
        """Log an image from a file ``path`` or a ``plot`` (anything with ``savefig``, e.g. pyplot).

        ``step`` (a runlog addition): the training step the image shows; the viewer scrubs through a
        name's images by step.
        """
        self._check_open()
        if step is not None and (type(step) is not int or step < 0):
            raise ValueError(f"log_image({name!r}, step={step!r}): step must be a whole number >= 0 (the training step), or left out")
        check_key(name, call="run.log_image", what="metric name")
        if (path is None) == (plot is None):
            raise ValueError(
                f"log_image({name!r}) takes exactly one of path= (an image file) or plot= (a matplotlib "
                f"figure or pyplot); got {'both' if path is not None else 'neither'}"
            )
        stem = f"images/{layout.safe_file_stem(name)}_{int(time.time())}"
        if plot is not None:
            if not hasattr(plot, "savefig"):
                raise TypeError(f"plot= must have a savefig method (a matplotlib figure or pyplot); got {type(plot).__name__}")
            fd, tmp = tempfile.mkstemp(suffix=".png")
            os.close(fd)
            try:
                plot.savefig(tmp, format="png")
                stored = self._writer.add_file(self._free_name(stem, ".png"), tmp)
            finally:
                os.unlink(tmp)
        else:
            assert path is not None
            if not os.path.isfile(path):
                raise FileNotFoundError(f"log_image({name!r}, path={str(path)!r}): no such file; pass the path of an image file")
            stored = self._writer.add_file(self._free_name(stem, Path(path).suffix or ".png"), path)
        self._writer.metric(IMAGE, name, _encode_str(stored), step)
        self._describe(name, description)

    def _free_name(self, stem: str, suffix: str) -> str:
        candidate, n = f"{stem}{suffix}", 1
        while (self._dir / layout.FILES_DIR / candidate).exists():
            candidate, n = f"{stem}_{n}{suffix}", n + 1
        return candidate

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
        *,
        system: bool = False,
        rank: int | str | None = None,
    ) -> dict[str, Any]:
        """The run's metrics in Azure ML's shapes (see :func:`runlog._model.metrics.shape_metrics`).

        With ``recursive=True``: ``{run_id: metrics}`` over this run and its descendants.
        System metrics (``system/...``, sampled while the run runs) are left out unless
        ``system=True`` or ``name`` names one.

        ``rank`` (multi-process runs, see docs/script-runs.md): by default a name several ranks
        logged comes from the lowest rank (rank 0), as if only the chief logged it; ``rank=N``
        gives rank N's metrics only; ``rank="all"`` gives ``{rank: metrics}`` (``None``: processes
        that recorded no rank); ``rank="merged"`` every rank's values in one list, in time order.
        A single-process run's metrics are the same whatever the rank (0, None or "merged").
        """
        rank = check_rank(rank)
        if recursive:
            runs = [self, *self.get_children(recursive=True)]
            return {r.id: r.get_metrics(name, system=system, rank=rank) for r in runs if run_type is None or r.type == run_type}
        if rank == "all":
            shaped: dict[Any, Any] = {
                r: shape_metrics(columns, name, system=system) for r, columns in columns_by_rank(self._reader).items()
            }
            if shaped.get(None) == {}:  # only system metrics left out (a submitted run's supervisor): no group of the user's
                del shaped[None]
            return shaped
        return shape_metrics(rank_columns(self._reader, rank), name, system=system)

    def get_metric_history(self, name: str, *, rank: int | str | None = None) -> list[MetricPoint]:
        """Every value of a scalar or list metric with its step and time, in logged order.

        ``rank`` as for :meth:`get_metrics` (not ``"all"``: one history): by default the lowest
        rank's values of a name several ranks logged.
        """
        if rank == "all":
            raise ValueError("get_metric_history gives one series: pass rank=N for one rank's, or rank='merged'")
        return history(rank_columns(self._reader, rank), name)
