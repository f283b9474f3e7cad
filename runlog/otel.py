"""OpenTelemetry exporters that write to the active run.

::

    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from runlog.otel import RunLogExporter, RunMetricExporter

    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(RunLogExporter()))
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(RunMetricExporter())])

Each exported log record becomes one driver-log line of the active run (time,
severity, scope, body, attributes, trace and span ids); records carrying tagged
metrics also feed the metric store. Each metric point becomes a metric event.
The formats and naming rules are in ``docs/opentelemetry.md``.

Supported SDK versions: ``opentelemetry-sdk >= 1.39, < 2`` (the ``LogRecordExporter``
interface; tested with 1.39.0 and 1.45.2). Older SDKs (<= 1.38, ``LogExporter`` and
``LogData``) are not supported: the ``otel`` extra's pin says so.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry.sdk import metrics as _sdk_metrics
    from opentelemetry.sdk._logs import export as _logs_export
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        ExponentialHistogramDataPoint,
        HistogramDataPoint,
        MetricExporter,
        MetricExportResult,
        MetricsData,
        NumberDataPoint,
    )
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "runlog.otel needs the OpenTelemetry SDK, which is not installed: pip install 'runlog[otel]'"
    ) from _exc

from ._capture import driverlog as _driverlog
from ._capture.driverlog import driver_log_name, format_utc_ns
from ._errors import InvalidMetricValue
from ._model.metrics import LIST, TABLE, encode_list, encode_table
from ._store import writer_for
from ._store.writer import RunWriter, encode_scalar

if TYPE_CHECKING:
    from ._model.run import Run

__all__ = [
    "METRIC_ATTRIBUTE_PREFIX",
    "STEP_ATTRIBUTE",
    "RunLogExporter",
    "RunMetricExporter",
    "format_record",
    "series_name",
    "tagged_metrics",
]

_log = logging.getLogger("runlog.otel")

# The current interface (SDK >= 1.39). The deprecated aliases LogExporter/LogExportResult
# are not used: they warn, and SDKs that have only them (<= 1.38) pass LogData, not
# ReadableLogRecord, and are outside the supported range of the `otel` extra.
_LogExporterBase: Any = _logs_export.LogRecordExporter
_LogResult: Any = _logs_export.LogRecordExportResult

METRIC_ATTRIBUTE_PREFIX = "runlog.metric."
"""Attributes named ``runlog.metric.<name>`` are metric values of the record."""
STEP_ATTRIBUTE = "runlog.step"
"""The step of a record's tagged metrics (also ``step`` beside a ``metrics`` mapping)."""

_state = threading.local()
# Every exporter, so that a forked child gets fresh locks (a parent's export thread may hold one
# at the moment of the fork, and it does not exist in the child).
_exporters: weakref.WeakSet[Any] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for exporter in list(_exporters):
        exporter._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _in_export() -> bool:
    return getattr(_state, "exporting", False)


class _Exporting:
    """Marks this thread as inside an export, so that anything it logs is not exported again."""

    __slots__ = ("_previous",)

    def __enter__(self) -> None:
        self._previous = getattr(_state, "exporting", False)
        _state.exporting = True

    def __exit__(self, *exc: object) -> None:
        _state.exporting = self._previous


def _is_runlog_scope(name: str | None) -> bool:
    return name is not None and (name == "runlog" or name.startswith("runlog."))


_WRITTEN_MARK = "_runlog_written"  # set on a stdlib LogRecord by RunHandler / runlog.structlog


def _written_by_runlog(record: Any) -> bool:
    attributes = record.log_record.attributes
    return bool(attributes) and _WRITTEN_MARK in attributes


def _target_run(explicit: Run | None) -> Run | None:
    if explicit is not None:
        return None if explicit._finished else explicit
    from ._model.context import active_run

    return active_run()


def _hex_trace_id(trace_id: int | None) -> str:
    return f"{trace_id:032x}" if trace_id else ""


def _hex_span_id(span_id: int | None) -> str:
    return f"{span_id:016x}" if span_id else ""


# -- log records -> driver-log lines ---------------------------------------------------------------


_utc_time = format_utc_ns  # the timestamp of runlog's driver-log lines, shared with RunHandler


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, list)):
        return list(value)
    return repr(value)


def _jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` with mapping keys JSON can hold, and no cycles (deep or odd parts as their repr)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth > 20:
        return repr(value)
    if isinstance(value, Mapping):
        return {
            (k if k is None or isinstance(k, (str, int, float, bool)) else repr(k)): _jsonable(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (tuple, list)):
        return [_jsonable(v, depth + 1) for v in value]
    return _json_default(value)


# json.dumps(value, ensure_ascii=False, default=_json_default[, separators=...]) without building an
# encoder per call (json.dumps makes a new JSONEncoder whenever an option is given).
_encode_line = json.JSONEncoder(ensure_ascii=False, default=_json_default).encode
_encode_text = json.JSONEncoder(ensure_ascii=False, default=_json_default, separators=(", ", ": ")).encode


def _to_json(value: Any, encode: Any = _encode_line) -> str:
    """``json.dumps`` that never fails: a record that JSON cannot hold as such must not cost its batch."""
    try:
        return encode(value)  # type: ignore[no-any-return]
    except (TypeError, ValueError, RecursionError):  # e.g. tuple keys, a cycle
        return encode(_jsonable(value))  # type: ignore[no-any-return]


_encode_key = json.encoder.encode_basestring  # what the encoder uses for strings with ensure_ascii=False
_INF = float("inf")


def _simple_json(value: dict[Any, Any], depth: int = 0) -> str | None:
    """``_encode_text(value)`` for a dict of str keys and str/int/float/bool/None/dict values (the usual
    attributes: ``{"metrics": {"loss": 0.1}, "step": 3}``), without the encoder's per-call set-up; None
    for anything else (the encoder then does it). Byte-identical: tests/test_otel.py holds it so."""
    parts = []
    for k, v in value.items():
        if k.__class__ is not str:
            return None
        t = v.__class__
        if t is str:
            text = _encode_key(v)
        elif t is float:
            text = repr(v) if v == v and v != _INF and v != -_INF else ("NaN" if v != v else "Infinity" if v > 0 else "-Infinity")
        elif t is int:
            text = repr(v)
        elif v is None:
            text = "null"
        elif t is bool:
            text = "true" if v else "false"
        elif t is dict and depth < 2:
            found = _simple_json(v, depth + 1)
            if found is None:
                return None
            text = found
        else:
            return None
        parts.append(f"{_encode_key(k)}: {text}")
    return "{" + ", ".join(parts) + "}"


def _dumps(value: Any) -> str:
    if value.__class__ is dict:
        text = _simple_json(value)
        if text is not None:
            return text
    return _to_json(value, _encode_text)


def _severity(log_record: Any) -> str:
    text = log_record.severity_text
    if text:
        return str(text)
    number = log_record.severity_number
    if number is not None and number.value:
        return str(number.name)
    return "UNSPECIFIED"


def _plain(attributes: Any) -> Mapping[str, Any]:
    """The attributes as a plain mapping (``BoundedAttributes`` iterates under a lock: slow)."""
    if not attributes:
        return {}
    inner = getattr(attributes, "_dict", None)
    return inner if isinstance(inner, dict) else dict(attributes)


# Attributes that the SDK's LoggingHandler adds to every record: noise on a text line.
_CODE_PREFIX = "code."  # (5 characters: compared as key[:5])
_STACKTRACE = "exception.stacktrace"


class _Converted:
    """One exported record, converted once: its line(s), tagged metrics and step."""

    __slots__ = ("line", "metrics", "scope", "step")

    def __init__(self, record: Any, json_lines: bool) -> None:
        log_record = record.log_record
        scope_obj = record.instrumentation_scope
        self.scope: str = scope_obj.name if scope_obj is not None else ""
        attributes = _plain(log_record.attributes)
        body = log_record.body
        body_is_str = body.__class__ is str
        self.metrics: dict[str, Any] = {}
        self.step: Any = None
        if json_lines or not body_is_str:
            self.metrics, self.step = tagged_metrics(body, attributes)
        ns = log_record.timestamp or log_record.observed_timestamp or time.time_ns()
        trace_id = log_record.trace_id
        if json_lines:
            obj: dict[str, Any] = {
                "time": _utc_time(ns),
                "level": _severity(log_record),
                "logger": self.scope,
                "message": body if body_is_str else _dumps(body),
            }
            for key, value in attributes.items():
                if key != _WRITTEN_MARK:
                    obj.setdefault(key, value)
            if trace_id:
                obj["trace_id"] = _hex_trace_id(trace_id)
                obj["span_id"] = _hex_span_id(log_record.span_id)
            self.line = _to_json(obj) + "\n"
            return
        message = body if body_is_str else ("" if body is None else _dumps(body))
        line = f"{_utc_time(ns)} {_severity(log_record)}:{self.scope}:{message}"
        stacktrace = None
        if attributes:
            shown = None
            prefixed = tagged = False
            for key, value in attributes.items():
                if key[:5] == _CODE_PREFIX:
                    continue
                if key == _STACKTRACE:
                    stacktrace = value
                    continue
                if key == _WRITTEN_MARK:
                    continue
                if key == "metrics":
                    tagged = True
                elif key[:7] == "runlog.":
                    prefixed = True
                if shown is None:
                    shown = {}
                shown[key] = value
            if shown:
                line = f"{line} {_dumps(shown)}"
            if prefixed and body_is_str:
                self.metrics, self.step = tagged_metrics(body, attributes)
            elif tagged and body_is_str:  # tagged_metrics of a str body and a `metrics` attribute, inlined
                found = attributes["metrics"]
                if isinstance(found, Mapping):
                    self.metrics, self.step = dict(found), attributes.get("step")
        if trace_id:
            line = f"{line} trace_id={trace_id:032x} span_id={_hex_span_id(log_record.span_id) or '0' * 16}"
        if stacktrace:
            line = f"{line}\n{str(stacktrace).rstrip()}"
        self.line = line + "\n"


def format_record(record: Any, *, json_lines: bool = False) -> str:
    """The driver-log line(s) of one exported record, ending with a newline.

    Text (the default)::

        2026-11-27T14:28:49.123Z INFO:app.train:epoch done {"epoch": 3} trace_id=<32 hex> span_id=<16 hex>

    followed by the exception's stack trace, if the record has one (the layout of
    ``RunHandler``'s default format). JSON lines (``json_lines=True``): one object with
    ``time``, ``level``, ``logger`` (the scope), ``message``, the attributes, ``trace_id``
    and ``span_id`` (the keys of ``RunHandler(json=True)``).
    """
    return _Converted(record, json_lines).line


def tagged_metrics(body: Any, attributes: Mapping[str, Any] | None) -> tuple[dict[str, Any], Any]:
    """The tagged metrics of a record and their step (see ``docs/opentelemetry.md``).

    Three forms, merged in this order: a ``metrics`` mapping (and ``step``) in a mapping
    body; a ``metrics`` mapping (and ``step``) attribute, which is what the SDK's
    ``LoggingHandler`` makes of ``extra=runlog.metrics(...)``; and attributes named
    ``runlog.metric.<name>`` with ``runlog.step``.
    """
    metrics: dict[str, Any] = {}
    step = None
    if body.__class__ is not str and isinstance(body, Mapping):
        found = body.get("metrics")
        if isinstance(found, Mapping):
            metrics.update(found)
            step = body.get("step", step)
    if attributes:
        found = attributes.get("metrics")
        if found is not None and isinstance(found, Mapping):
            metrics.update(found)
            step = attributes.get("step", step)
        prefixed = False
        for key in attributes:
            if key[:7] == "runlog.":
                prefixed = True
                if key.startswith(METRIC_ATTRIBUTE_PREFIX) and len(key) > len(METRIC_ATTRIBUTE_PREFIX):
                    metrics[key[len(METRIC_ATTRIBUTE_PREFIX) :]] = attributes[key]
        if prefixed and STEP_ATTRIBUTE in attributes:
            step = attributes[STEP_ATTRIBUTE]
    return metrics, step


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


def _write_metrics(writer: RunWriter, metrics: Mapping[str, Any], step: Any) -> None:
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
                writer.metric(LIST, key, encode_list(key, value), None)
            elif isinstance(value, Mapping):
                _log.debug("ignoring tagged metric %r: a mapping is not a metric value", name)
            else:
                encode_scalar(value, key)  # refuses what run.log refuses, before anything is written
                scalars[key] = value
        except InvalidMetricValue as exc:
            _bad_metric(name, exc)
    if scalars:
        writer.scalars(scalars, step)


def _write_tagged(writer: RunWriter, tagged: list[tuple[dict[str, Any], Any]]) -> None:
    """A batch's tagged metrics, in order: one write for the records whose values are all floats and ints
    under str names with an int (or no) step (the usual case); the others one by one, checked."""
    plain: list[tuple[dict[str, Any], Any]] = []
    for metrics, step in tagged:
        if (step is None or type(step) is int) and all(
            type(k) is str and (type(v) is float or type(v) is int) for k, v in metrics.items()
        ):
            plain.append((metrics, step))
            continue
        if plain:
            writer.scalar_groups(plain)
            plain = []
        _write_metrics(writer, metrics, step)
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
        _exporters.add(self)
        self._shutdown = False
        self._failures = 0

    def export(self, batch: Sequence[Any]) -> Any:
        """Write a batch of ``ReadableLogRecord`` to the run; never raises."""
        if _in_export():
            # Logged from inside an export (this one or another exporter of runlog's) and
            # handed back synchronously, e.g. by a SimpleLogRecordProcessor: drop it.
            return _LogResult.SUCCESS
        if self._shutdown:
            return _LogResult.FAILURE
        with _Exporting():
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
        run = _target_run(self._run)
        if run is None and self._run is not None:
            # Bound to a run that has ended: its records belong to no other run.
            _log.debug("run %s has ended: %d OpenTelemetry record(s) not written", self._run.id, len(batch))
            return
        lines = []
        tagged: list[tuple[dict[str, Any], Any]] = []
        skipped = 0
        json_lines = self._json_lines
        bound = self._run is not None
        for record in batch:
            scope = getattr(record, "instrumentation_scope", None)
            if scope is not None and _is_runlog_scope(scope.name):
                skipped += 1
                continue
            if not bound and _written_by_runlog(record):
                skipped += 1  # RunHandler (or runlog.structlog) wrote this stdlib record already
                continue
            converted = _Converted(record, json_lines)
            if run is None:
                _driverlog.add_pending(converted.line, converted.metrics or None, converted.step)
            else:
                lines.append(converted.line)
                if converted.metrics:
                    tagged.append((converted.metrics, converted.step))
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


# -- metric points -> metric events ------------------------------------------------------------------


def series_name(name: str, attributes: Mapping[str, Any] | None, suffix: str = "") -> str:
    """``name[.suffix]{key=value,...}``: attributes sorted by key, omitted when there are none."""
    base = f"{name}.{suffix}" if suffix else name
    if not attributes:
        return base
    labels = ",".join(f"{k}={_label(v)}" for k, v in sorted(attributes.items()))
    return f"{base}{{{labels}}}"


def _label(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(_label(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _exponential_buckets(point: Any) -> tuple[list[float], list[int]]:
    """Upper bounds and counts of an exponential histogram point, in ascending order."""
    base = 2.0 ** (2.0 ** -point.scale)
    bounds: list[float] = []
    counts: list[int] = []
    negative = point.negative
    for i in reversed(range(len(negative.bucket_counts))):
        # bucket index k covers (-base**(k+1), -base**k]
        bounds.append(-(base ** (negative.offset + i)))
        counts.append(negative.bucket_counts[i])
    bounds.append(0.0)
    counts.append(point.zero_count)
    positive = point.positive
    for i, count in enumerate(positive.bucket_counts):
        bounds.append(base ** (positive.offset + i + 1))
        counts.append(count)
    return bounds, counts


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return None  # an empty histogram's min/max
    return value


class RunMetricExporter(MetricExporter):  # type: ignore[misc]
    """An OpenTelemetry metric exporter that writes each point as a metric of the run.

    Gauges and sums (counters, up-down counters, observable ones) become scalar series
    named after the instrument (``name{key=value,...}`` with attributes); histograms
    become ``<name>.count/.sum/.min/.max`` scalars and a ``<name>.buckets`` table.
    The step of every point is this exporter's export sequence number (0, 1, 2, ...),
    or none with ``export_step=False``. Sums are exported cumulative by default (each
    export logs the running total); pass ``preferred_temporality`` to change that.
    """

    def __init__(
        self,
        run: Run | None = None,
        *,
        export_step: bool = True,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Any] | None = None,
    ) -> None:
        temporality = {
            kind: AggregationTemporality.CUMULATIVE
            for kind in (
                Counter,
                UpDownCounter,
                Histogram,
                # the synchronous Gauge (SDK >= 1.23) under its SDK name
                getattr(_sdk_metrics, "_Gauge", ObservableGauge),
                ObservableCounter,
                ObservableUpDownCounter,
                ObservableGauge,
            )
        }
        temporality.update(preferred_temporality or {})
        super().__init__(preferred_temporality=temporality, preferred_aggregation=preferred_aggregation)
        self._run = run
        self._export_step = export_step
        self._sequence = 0
        self._lock = threading.Lock()
        _exporters.add(self)
        self._shutdown = False
        self._failures = 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Write every point of ``metrics_data`` to the run; never raises."""
        if _in_export() or self._shutdown:
            return MetricExportResult.FAILURE
        with _Exporting():
            if not self._lock.acquire(timeout=max(0.0, timeout_millis / 1000)):
                return MetricExportResult.FAILURE
            try:
                run = _target_run(self._run)
                if run is None:
                    _log.debug("no active run: OpenTelemetry metric export %d not written", self._sequence)
                    return MetricExportResult.FAILURE
                step = self._sequence if self._export_step else None
                count = self._write(writer_for(run._dir), metrics_data, step)
                self._sequence += 1
                _log.debug("exported %d OpenTelemetry metric point(s) to run %s (step %s)", count, run.id, step)
                return MetricExportResult.SUCCESS
            except Exception as exc:
                self._failures += 1
                if self._failures == 1 or self._failures % 1000 == 0:
                    _log.warning(
                        "could not write OpenTelemetry metrics to the run (%s); %d export(s) failed so far. "
                        "Set the level of the 'runlog' logger to DEBUG for details",
                        exc,
                        self._failures,
                    )
                _log.debug("RunMetricExporter.export failed", exc_info=True)
                return MetricExportResult.FAILURE
            finally:
                self._lock.release()

    def _write(self, writer: RunWriter, metrics_data: MetricsData, step: int | None) -> int:
        scalars: dict[str, Any] = {}
        tables: list[tuple[str, dict[str, list[Any]]]] = []
        for resource_metrics in metrics_data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        self._point(metric.name, point, step, scalars, tables)
        if scalars:
            writer.scalars(scalars, step)
        for name, table in tables:
            writer.metric(TABLE, name, encode_table(name, table), step)
        return len(scalars) + len(tables)

    @staticmethod
    def _point(
        name: str, point: Any, step: int | None, scalars: dict[str, Any], tables: list[tuple[str, dict[str, list[Any]]]]
    ) -> None:
        attributes = point.attributes
        if isinstance(point, NumberDataPoint):
            scalars[series_name(name, attributes)] = point.value
            return
        if isinstance(point, HistogramDataPoint):
            bounds = [*point.explicit_bounds, math.inf]
            counts = list(point.bucket_counts)
        elif isinstance(point, ExponentialHistogramDataPoint):
            bounds, counts = _exponential_buckets(point)
        else:  # a point type of a newer SDK: keep what is recognisably a value
            value = getattr(point, "value", None)
            if value is not None:
                scalars[series_name(name, attributes)] = value
            return
        scalars[series_name(name, attributes, "count")] = point.count
        scalars[series_name(name, attributes, "sum")] = point.sum
        scalars[series_name(name, attributes, "min")] = _finite_or_none(point.min)
        scalars[series_name(name, attributes, "max")] = _finite_or_none(point.max)
        table: dict[str, list[Any]] = {"le": bounds, "count": counts}
        if step is not None:
            table = {"step": [step] * len(bounds), **table}
        tables.append((series_name(name, attributes, "buckets"), table))

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Wait (at most ``timeout_millis``) for an export in progress to end."""
        if not self._lock.acquire(timeout=max(0.0, timeout_millis / 1000)):
            return False
        self._lock.release()
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop exporting, after an export in progress ends (waiting at most the timeout).

        ``PeriodicExportingMetricReader`` passes the timeout as ``timeout=`` (milliseconds).
        """
        timeout = kwargs.get("timeout", timeout_millis)
        self.force_flush(timeout if isinstance(timeout, (int, float)) else timeout_millis)
        self._shutdown = True
