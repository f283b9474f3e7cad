"""Private parts of :mod:`runlog.otel` (the public module; import from there).

- :mod:`runlog._otel.export`: what both exporters share (the export guard against loops, the
  target run, fresh locks in a forked child);
- :mod:`runlog._otel.records`: an exported log record -> its driver-log line and tagged metrics;
- :mod:`runlog._otel.logs`: ``RunLogExporter`` and the writing of tagged metrics;
- :mod:`runlog._otel.metrics`: ``RunMetricExporter`` and metric points -> metric events.

Each module imports the OpenTelemetry SDK it needs; ``runlog.otel`` checks that the SDK is
installed first and says which ``pip install`` fixes it when it is not.
"""
