"""An application instrumented with OpenTelemetry, reaching a runlog run without changing how it logs.

The program logs through the standard ``logging`` module (bridged to OpenTelemetry by the
SDK's ``LoggingHandler``), measures with OpenTelemetry instruments and traces with spans.
runlog's exporters write the records to the run's driver log (with trace and span ids)
and the measurements to its metric store. Run it with ``python examples/otel_app.py``
(needs ``pip install 'runlog[otel]'``); it writes to ``./runlog-store`` or ``$RUNLOG_STORE``.
"""

from __future__ import annotations

import logging
import warnings

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import runlog
from runlog.otel import RunLogExporter, RunMetricExporter


def main() -> runlog.Run:
    resource = Resource.create({"service.name": "otel-app"})
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(RunLogExporter()))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(RunMetricExporter())]
    )
    tracer = TracerProvider(resource=resource).get_tracer("otel-app")

    with warnings.catch_warnings():  # the SDK's handler is deprecated since 1.40; still the common set-up
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=logger_provider)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("otel_app")

    meter = meter_provider.get_meter("otel-app")
    batches = meter.create_histogram("batches", unit="ms")
    samples = meter.create_counter("samples")

    experiment = runlog.Experiment(runlog.Workspace.from_config(), "otel-app")
    with experiment.start_logging() as run:
        loss = 1.0
        for epoch in range(3):
            with tracer.start_as_current_span(f"epoch-{epoch}"):
                samples.add(64, {"split": "train"})
                log.info("epoch %d done", epoch, extra=runlog.metrics(loss=loss, step=epoch))
            loss /= 2
        batches.record(12.5)
        # Flush before the run ends, so that everything lands in it.
        logger_provider.force_flush()
        meter_provider.force_flush()
    logging.getLogger().removeHandler(handler)
    logger_provider.shutdown()
    meter_provider.shutdown()
    print(f"run {run.id}: {sorted(run.get_metrics())}")
    return run


if __name__ == "__main__":
    main()
