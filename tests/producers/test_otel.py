"""runlog.otel: OpenTelemetry log and metric exporters writing to the active run."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _repo import REPO as ROOT
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from otel_helpers import Providers, driver_log, sdk_logging_handler

import runlog
from runlog import otel
from runlog.otel import RunLogExporter, RunMetricExporter


def test_issue_snippet_end_to_end(run: runlog.Run, providers: Providers) -> None:
    """The issue's set-up: records reach the driver log, tagged metrics and instruments reach get_metrics."""
    logger_provider = providers.logs(
        BatchLogRecordProcessor(RunLogExporter()), resource=Resource.create({"service.name": "trainer"})
    )
    meter_provider, _ = providers.metrics(RunMetricExporter())
    log = logger_provider.get_logger("app.train")
    log.emit(body="starting", severity_text="INFO", severity_number=SeverityNumber.INFO, attributes={"lr": 0.01})
    for epoch in range(3):
        log.emit(
            body="epoch done",
            severity_text="INFO",
            severity_number=SeverityNumber.INFO,
            attributes={"runlog.metric.loss": 1.0 / (epoch + 1), "runlog.step": epoch},
        )
    samples = meter_provider.get_meter("trainer").create_counter("samples")
    samples.add(32)
    samples.add(32)
    assert logger_provider.force_flush()
    assert meter_provider.force_flush()

    text = driver_log(run)
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith(' INFO:app.train:starting {"lr": 0.01}')
    assert all(":app.train:epoch done" in line for line in lines[1:])
    assert [(p.value, p.step) for p in run.get_metric_history("loss")] == [(1.0, 0), (0.5, 1), (1.0 / 3, 2)]
    assert run.get_metrics()["samples"] == 64


def test_runhandler_structlog_and_exporter_lines_share_the_span(run: runlog.Run, providers: Providers) -> None:
    """Inside one span, lines from RunHandler, the structlog processor and the exporter all carry its ids."""

    import structlog

    from runlog.structlog import RunProcessor

    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    tracer = providers.traces().get_tracer("test")
    std_logger = logging.getLogger("otel.join.std")
    std_logger.propagate = False
    std_logger.setLevel(logging.INFO)
    handler = runlog.RunHandler()
    std_logger.addHandler(handler)
    slog = structlog.wrap_logger(
        structlog.PrintLogger(file=io.StringIO()),
        processors=[structlog.processors.add_log_level, RunProcessor(), structlog.processors.JSONRenderer()],
    )
    try:
        with tracer.start_as_current_span("epoch") as span:
            std_logger.info("from RunHandler")
            slog.info("from structlog")
            provider.get_logger("otel.join.otel").emit(body="from the exporter", severity_text="INFO")
            ctx = span.get_span_context()
        std_logger.info("after the span")
    finally:
        std_logger.removeHandler(handler)
        handler.close()
    tid, sid = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
    lines = driver_log(run).splitlines()
    assert len(lines) == 4
    std_line, struct_line, otel_line, after = lines
    assert std_line.endswith(f"from RunHandler trace_id={tid} span_id={sid}")
    event = json.loads(struct_line)
    assert event["event"] == "from structlog" and (event["trace_id"], event["span_id"]) == (tid, sid)
    assert otel_line.endswith(f"from the exporter trace_id={tid} span_id={sid}")
    assert "trace_id" not in after


def test_stdlib_logging_handler_with_runlog_metrics_extra(run: runlog.Run, providers: Providers) -> None:
    """Through the SDK LoggingHandler, extra={'metrics': ..., 'step': ...} (what runlog.metrics builds) feeds the store."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    logger = logging.getLogger("otel.stdlib.test")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = sdk_logging_handler(provider)
    logger.addHandler(handler)
    try:
        logger.info("epoch %d done", 4, extra={"metrics": {"loss": 0.1}, "step": 4})
    finally:
        logger.removeHandler(handler)
    assert [(p.value, p.step) for p in run.get_metric_history("loss")] == [(0.1, 4)]
    (line,) = driver_log(run).splitlines()
    assert " INFO:otel.stdlib.test:epoch 4 done " in line
    assert "code.file.path" not in line  # the handler's code.* attributes are kept off text lines


def test_exporters_implement_the_sdk_interfaces() -> None:
    """RunLogExporter is a LogRecordExporter and RunMetricExporter a MetricExporter of the installed SDK."""
    from opentelemetry.sdk.metrics.export import MetricExporter

    assert issubclass(RunLogExporter, LogRecordExporter)
    assert issubclass(RunMetricExporter, MetricExporter)
    RunLogExporter()  # no abstract method left
    RunMetricExporter()


def test_public_names_stay_in_runlog_otel_and_its_modules_stay_small() -> None:
    """Every name of runlog.otel.__all__ (the documented ones) imports from runlog.otel, which is only the
    public surface over runlog._otel; every module of it stays under 600 lines (issue 14)."""
    documented = {"RunLogExporter", "RunMetricExporter", "format_record", "tagged_metrics", "series_name",
                  "METRIC_ATTRIBUTE_PREFIX", "STEP_ATTRIBUTE"}
    assert documented <= set(otel.__all__)
    namespace: dict[str, Any] = {}
    exec("from runlog.otel import *", namespace)
    assert documented <= set(namespace)
    assert RunLogExporter.__module__ == "runlog._otel.logs" and RunMetricExporter.__module__ == "runlog._otel.metrics"
    for path in [ROOT / "runlog" / "otel.py", *(ROOT / "runlog" / "_otel").glob("*.py")]:
        assert len(path.read_text().splitlines()) < 600, path


def test_import_runlog_does_not_import_opentelemetry_and_missing_sdk_names_the_extra() -> None:
    """`import runlog` loads no opentelemetry module; without the SDK, runlog.otel says which pip install fixes it."""
    code = (
        "import sys\n"
        "import runlog\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'opentelemetry imported'\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('opentelemetry'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        "    import runlog.otel\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "pip install 'runlog[otel]'" in result.stdout


def test_example_otel_app(tmp_path: Path) -> None:
    """examples/otel_app.py runs and leaves its records and metrics in the run it created."""
    env = {**os.environ, "RUNLOG_STORE": str(tmp_path / "example-store")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "otel_app.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    ws = runlog.Workspace(tmp_path / "example-store")
    (run,) = runlog.Experiment(ws, "otel-app").get_runs()
    assert run.get_status() == "Completed"
    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0, 0.5, 0.25]
    assert metrics["batches.count"] == 1
    log = driver_log(run)
    assert "epoch 2 done" in log and "trace_id=" in log


