"""``RunLogExporter``: exported log records -> the run's driver log, tagged metrics -> its metric store."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk._logs import export as _logs_export

from .._capture import driverlog as _driverlog
from .._capture.driverlog import driver_log_name
from .._errors import InvalidMetricValue
from .._model.metrics import LIST, encode_list
from .._store import writer_for
from .._store.writer import RunWriter, encode_scalar
from .export import Exporting, exporters, in_export, is_runlog_scope, target_run, written_by_runlog
from .records import Converted

if TYPE_CHECKING:
    from .._model.run import Run

__all__ = ["RunLogExporter"]

_log = logging.getLogger("runlog.otel")

# The current interface (SDK >= 1.39). The deprecated aliases LogExporter/LogExportResult
# are not used: they warn, and SDKs that have only them (<= 1.38) pass LogData, not
# ReadableLogRecord, and are outside the supported range of the `otel` extra.
_LogExporterBase: Any = _logs_export.LogRecordExporter
_LogResult: Any = _logs_export.LogRecordExportResult

_bad_metric_warnings = 0


def _bad_metric(name: Any, exc: Exception) -> None:
    """A tagged value that cannot be stored: skipped, the others of the record are kept."""
    global _bad_metric_warnings
    _bad_metric_warnings += 1
    _log.log(
        logging.WARNING if _bad_metric_warnings <= 5 else logging.DEBUG,
        "tagged metric %r of an OpenTelemetry record was not stored: %s",
        name,
        exc,
    )


def _write_metrics(writer: RunWriter, metrics: Mapping[str, Any], step: Any, when: float) -> None:
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        _log.debug("ignoring step %r of tagged metrics %s: a step must be an int", step, sorted(metrics))
        step = None
    scalars = {}
    for name, value in metrics.items():
        key = str(name)
        try:
            if isinstance(value, (tuple, list)):
                writer.metric(LIST, key, encode_list(key, value), None, at=when)
            elif isinstance(value, Mapping):
                _log.debug("ignoring tagged metric %r: a mapping is not a metric value", name)
            else:
                encode_scalar(value, key)  # refuses what run.log refuses, before anything is written
                scalars[key] = value
        except InvalidMetricValue as exc:
            _bad_metric(name, exc)
    if scalars:
        writer.scalars(scalars, step, when)


def _write_tagged(writer: RunWriter, tagged: list[tuple[dict[str, Any], Any, float]]) -> None:
    """A batch's tagged metrics ``(values, step, time)``, in order: one write for the records whose values are
    all floats and ints under str names with an int (or no) step (the usual case); the others one by one, checked."""
    plain: list[tuple[dict[str, Any], Any, float]] = []
    for metrics, step, when in tagged:
        simple = step is None or type(step) is int
        if simple:
            for k, v in metrics.items():  # (a loop, not all() of a generator: this runs per record)
                if type(k) is not str or (type(v) is not float and type(v) is not int):
                    simple = False
                    break
        if simple:
            plain.append((metrics, step, when))
            continue
        if plain:
            writer.scalar_groups(plain)
            plain = []
        _write_metrics(writer, metrics, step, when)
    if plain:
        writer.scalar_groups(plain)


class RunLogExporter(_LogExporterBase):  # type: ignore[misc]
    """An OpenTelemetry log record exporter that writes each record to the run's driver log.

    Args:
        run: the run to write to; by default the active run at the time of each export.
        json_lines: write JSON lines instead of text lines (as ``RunHandler(json=True)``).

    Records exported while no run is active join the bounded buffer that ``RunHandler``
    uses too: they are written to the next run's driver log (see ``docs/opentelemetry.md``).

    Records of runlog's own loggers (scope ``runlog`` and ``runlog.*``) are not written,
    and records emitted while this exporter is exporting are dropped, so that an
    exporter that logs, or a ``LoggingHandler`` on the root logger, never loops back.
    """

    def __init__(self, run: Run | None = None, *, json_lines: bool = False) -> None:
        self._run = run
        self._json_lines = json_lines
        self._lock = threading.Lock()
        exporters.add(self)
        self._shutdown = False
        _driverlog.add_mark_reader(self)  # RunHandler marks what it writes: this exporter skips it
        self._failures = 0

    def export(self, batch: Sequence[Any]) -> Any:
        """Write a batch of ``ReadableLogRecord`` to the run; never raises."""
        if in_export():
            # Logged from inside an export (this one or another exporter of runlog's) and
            # handed back synchronously, e.g. by a SimpleLogRecordProcessor: drop it.
            return _LogResult.SUCCESS
        if self._shutdown:
            return _LogResult.FAILURE
        with Exporting():
            try:
                with self._lock:
                    self._export(batch)
                return _LogResult.SUCCESS
            except Exception as exc:  # a failing exporter never breaks the program
                self._failures += 1
                if self._failures == 1 or self._failures % 1000 == 0:
                    _log.warning(
                        "could not write %d OpenTelemetry log record(s) to the run (%s); %d export(s) failed so far. "
                        "Set the level of the 'runlog' logger to DEBUG for details",
                        len(batch),
                        exc,
                        self._failures,
                    )
                _log.debug("RunLogExporter.export failed", exc_info=True)
                return _LogResult.FAILURE

    def _export(self, batch: Sequence[Any]) -> None:
        run = target_run(self._run)
        if run is None and self._run is not None:
            # Bound to a run that has ended: its records belong to no other run.
            _log.debug("run %s has ended: %d OpenTelemetry record(s) not written", self._run.id, len(batch))
            return
        lines = []
        tagged: list[tuple[dict[str, Any], Any, float]] = []
        skipped = 0
        json_lines = self._json_lines
        bound = self._run is not None
        for record in batch:
            scope = getattr(record, "instrumentation_scope", None)
            if scope is not None:
                scope_name = scope.name
                if scope_name and "runlog" in scope_name and is_runlog_scope(scope_name):
                    skipped += 1
                    continue
            if not bound and written_by_runlog(record):
                skipped += 1  # RunHandler (or runlog.structlog) wrote this stdlib record already
                continue
            converted = Converted(record, json_lines)
            if run is None:
                _driverlog.add_pending(converted.line, converted.metrics or None, converted.step)
            else:
                lines.append(converted.line)
                if converted.metrics:
                    tagged.append((converted.metrics, converted.step, converted.ns / 1e9))
        if skipped == len(batch):
            # Nothing to write: typically only runlog's own diagnostics, logged by the previous
            # export and handed back by a batch processor: logging about them would feed the
            # loop, so stay silent.
            return
        if run is None:
            _log.debug("no active run: %d OpenTelemetry record(s) kept for the next run", len(batch) - skipped)
            return
        if _driverlog.has_pending():
            _driverlog.flush_pending(run)
        writer = writer_for(run._dir)
        name = driver_log_name(run)
        if lines:
            writer.write_log("".join(lines), name)
        if tagged:
            _write_tagged(writer, tagged)
        _log.debug("exported %d OpenTelemetry record(s) to %s of run %s", len(lines), name, run.id)

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Wait (at most ``timeout_millis``) for an export in progress; True when none is left.

        Every export writes through to the store before it returns, so there is nothing
        else to flush.
        """
        if not self._lock.acquire(timeout=max(0.0, timeout_millis / 1000)):
            return False
        self._lock.release()
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop accepting records, after an export in progress ends (waiting at most ``timeout_millis``)."""
        if self._shutdown:
            return
        self.force_flush(timeout_millis)
        self._shutdown = True
        _driverlog.update_mark_written()

