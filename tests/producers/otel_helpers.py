"""What the OpenTelemetry exporters' tests share: providers shut down after a test, the driver log, handlers."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import runlog
from runlog.otel import RunMetricExporter


class Providers:
    """Creates OTel providers for a test and shuts every one down at its end."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def logs(self, *processors: Any, resource: Resource | None = None) -> LoggerProvider:
        provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        for processor in processors:
            provider.add_log_record_processor(processor)
        self.items.append(provider)
        return provider

    def metrics(self, exporter: RunMetricExporter, views: tuple[View, ...] = ()) -> tuple[MeterProvider, Any]:
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=10**9)
        provider = MeterProvider(metric_readers=[reader], views=list(views), shutdown_on_exit=False)
        self.items.append(provider)
        return provider, reader

    def traces(self) -> TracerProvider:
        provider = TracerProvider(shutdown_on_exit=False)
        self.items.append(provider)
        return provider


def driver_log(run: runlog.Run, name: str = "logs/driver_log.txt") -> str:
    path = run.path / "files" / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


@contextlib.contextmanager
def on_root(handler: logging.Handler) -> Iterator[None]:
    """``handler`` on the root logger (level DEBUG) for the block; removed before the providers shut down."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def sdk_logging_handler(provider: LoggerProvider) -> logging.Handler:
    # The SDK's handler is deprecated (since 1.40) in favour of opentelemetry-instrumentation-logging's,
    # but it is what most programs still attach; its DeprecationWarning is not what these tests check.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return LoggingHandler(logger_provider=provider)


class Collect(logging.Handler):
    """Keeps the records it handles."""

    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)
