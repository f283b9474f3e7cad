"""``RunMetricExporter``: OpenTelemetry metric points -> metric events of the run."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk import metrics as _sdk_metrics
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

from .._model.metrics import TABLE, encode_table
from .._store import writer_for
from .._store.writer import RunWriter
from .export import Exporting, exporters, in_export, target_run

if TYPE_CHECKING:
    from .._model.run import Run

__all__ = ["RunMetricExporter", "series_name"]

_log = logging.getLogger("runlog.otel")

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
        exporters.add(self)
        self._shutdown = False
        self._failures = 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Write every point of ``metrics_data`` to the run; never raises."""
        if in_export() or self._shutdown:
            return MetricExportResult.FAILURE
        with Exporting():
            if not self._lock.acquire(timeout=max(0.0, timeout_millis / 1000)):
                return MetricExportResult.FAILURE
            try:
                run = target_run(self._run)
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

