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
The formats and naming rules are in ``docs/opentelemetry.md``. This module is the public
surface; the code lives in the private package ``runlog._otel`` (``records``: a log record ->
its line and tagged metrics; ``logs``: ``RunLogExporter``; ``metrics``: ``RunMetricExporter``;
``export``: what both exporters share).

Supported SDK versions: ``opentelemetry-sdk >= 1.39, < 2`` (the ``LogRecordExporter``
interface; tested with 1.39.0 and 1.45.2). Older SDKs (<= 1.38, ``LogExporter`` and
``LogData``) are not supported: the ``otel`` extra's pin says so.
"""

from __future__ import annotations

try:
    import opentelemetry.sdk._logs.export
    import opentelemetry.sdk.metrics.export  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "runlog.otel needs the OpenTelemetry SDK, which is not installed: pip install 'runlog[otel]'"
    ) from _exc

from ._otel.logs import RunLogExporter
from ._otel.metrics import RunMetricExporter, series_name
from ._otel.records import METRIC_ATTRIBUTE_PREFIX, STEP_ATTRIBUTE, format_record, tagged_metrics

__all__ = [
    "METRIC_ATTRIBUTE_PREFIX",
    "STEP_ATTRIBUTE",
    "RunLogExporter",
    "RunMetricExporter",
    "format_record",
    "series_name",
    "tagged_metrics",
]
