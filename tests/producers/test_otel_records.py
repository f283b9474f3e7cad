"""Tests of runlog._otel.records: an exported log record -> its driver-log line (text or JSON) and tagged metrics."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from otel_helpers import Providers, driver_log, sdk_logging_handler

import runlog
from runlog._otel import records as otel_records
from runlog._otel.records import format_record, tagged_metrics
from runlog.otel import RunLogExporter


def test_log_line_fields_severity_scope_attributes_and_exception(run: runlog.Run, providers: Providers) -> None:
    """A record's line carries time, severity, scope, body and attributes; a stack trace follows on its own lines."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    log = provider.get_logger("svc.db")
    log.emit(body="slow query", severity_number=SeverityNumber.WARN, attributes={"ms": 812, "table": "users"})
    log.emit(body={"k": [1, 2]}, severity_text="DEBUG")
    std_logger = logging.getLogger("svc.db")
    std_logger.propagate = False
    handler = sdk_logging_handler(provider)
    std_logger.addHandler(handler)
    try:
        raise ValueError("bad row")
    except ValueError:
        std_logger.exception("failed")
    finally:
        std_logger.removeHandler(handler)
    text = driver_log(run)
    first, second, third, *trace = text.splitlines()
    assert first.endswith(' WARN:svc.db:slow query {"ms": 812, "table": "users"}')
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", first)  # 2026-11-27T14:28:49.123Z, UTC
    assert second.endswith(' DEBUG:svc.db:{"k": [1, 2]}')
    assert ' ERROR:svc.db:failed {"exception.type": "ValueError", "exception.message": "bad row"}' in third
    assert trace[0].startswith("Traceback (most recent call last):")
    assert trace[-1] == "ValueError: bad row"


def test_trace_and_span_ids_in_exported_lines(run: runlog.Run, providers: Providers) -> None:
    """Records emitted inside a span carry its trace_id and span_id on their driver-log line; others carry none."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    tracer = providers.traces().get_tracer("test")
    log = provider.get_logger("app")
    with tracer.start_as_current_span("step") as span:
        log.emit(body="inside", severity_text="INFO")
        context = span.get_span_context()
    log.emit(body="outside", severity_text="INFO")
    inside, outside = driver_log(run).splitlines()
    assert inside.endswith(f"inside trace_id={context.trace_id:032x} span_id={context.span_id:016x}")
    assert "trace_id" not in outside


def test_json_lines(run: runlog.Run, providers: Providers) -> None:
    """With json_lines=True each record is one JSON object with the documented keys."""
    import json

    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter(json_lines=True)))
    tracer = providers.traces().get_tracer("test")
    with tracer.start_as_current_span("s") as span:
        provider.get_logger("app").emit(body="hi", severity_text="INFO", attributes={"user": "ada"})
    (obj,) = [json.loads(line) for line in driver_log(run).splitlines()]
    assert obj["level"] == "INFO" and obj["logger"] == "app" and obj["message"] == "hi" and obj["user"] == "ada"
    assert obj["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert set(obj) >= {"time", "span_id"}


def test_tagged_metric_forms(run: runlog.Run, providers: Providers) -> None:
    """Metrics come from a 'metrics' mapping in the body, a 'metrics' attribute, or runlog.metric.* attributes."""
    provider = providers.logs(SimpleLogRecordProcessor(RunLogExporter()))
    log = provider.get_logger("app")
    log.emit(body={"event": "epoch", "metrics": {"loss": 0.5, "acc": 0.8}, "step": 1})
    log.emit(body="epoch", attributes={"metrics": {"loss": 0.25}, "step": 2})
    log.emit(body="epoch", attributes={"runlog.metric.loss": 0.125, "runlog.step": 3, "other": 1})
    log.emit(body="lists", attributes={"runlog.metric.lr_schedule": [0.1, 0.01]})
    assert [(p.value, p.step) for p in run.get_metric_history("loss")] == [(0.5, 1), (0.25, 2), (0.125, 3)]
    metrics = run.get_metrics()
    assert metrics["acc"] == 0.8
    assert metrics["lr_schedule"] == [0.1, 0.01]
    assert "other" not in metrics
    assert len(driver_log(run).splitlines()) == 4  # a tagged record is still a driver-log line


_json_leaf = st.one_of(
    st.text(max_size=6),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


_json_dicts = st.recursive(
    st.dictionaries(st.one_of(st.text(max_size=5), st.integers(0, 3)), _json_leaf, max_size=4),
    lambda inner: st.dictionaries(st.text(max_size=5), st.one_of(_json_leaf, inner), max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(_json_dicts)
def test_attribute_json_of_text_lines_is_what_json_dumps_writes(value: dict[Any, Any]) -> None:
    """The attributes' JSON on a text line (a shortcut for plain dicts) is byte-identical to
    json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=...) for any dict."""
    expected = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=otel_records._json_default)
    assert otel_records._dumps(value) == expected


def test_one_record_that_cannot_be_written_as_json_does_not_lose_its_batch(run: runlog.Run) -> None:
    """A body JSON cannot hold as such (a mapping with tuple keys) still becomes a line; the other records are kept."""
    provider = LoggerProvider(shutdown_on_exit=False)
    memory = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    log = provider.get_logger("app")
    log.emit(body="before")
    log.emit(body={("a", 1): 2, "b": 3})
    log.emit(body="after")
    for json_lines in (False, True):
        exporter = RunLogExporter(json_lines=json_lines)
        assert exporter.export(memory.get_finished_logs()) is LogRecordExportResult.SUCCESS
    lines = driver_log(run).splitlines()
    assert len(lines) == 6
    assert lines[0].endswith("INFO:app:before") or lines[0].endswith(":app:before")
    assert "('a', 1)" in lines[1] and lines[2].endswith(":app:after")
    assert '"message": "after"' in lines[5] and "('a', 1)" in lines[4]
    provider.shutdown()


NS = 1764858516_250_000_000  # 2025-12-04T14:28:36.250Z


def _one_record(providers: Providers, **emit: Any) -> Any:
    """The ReadableLogRecord that one ``emit(**emit)`` on logger ``app`` makes."""
    memory = InMemoryLogRecordExporter()
    providers.logs(SimpleLogRecordProcessor(memory)).get_logger("app").emit(timestamp=NS, **emit)
    (record,) = memory.get_finished_logs()
    return record


@pytest.mark.parametrize(
    ("severity", "shown"),
    [
        ({"severity_text": "NOTICE", "severity_number": SeverityNumber.INFO}, "NOTICE"),  # the text wins
        ({"severity_number": SeverityNumber.ERROR}, "ERROR"),
        ({}, "UNSPECIFIED"),
    ],
)
def test_the_severity_shown_is_the_text_else_the_numbers_name(
    providers: Providers, severity: dict[str, Any], shown: str
) -> None:
    line = format_record(_one_record(providers, body="msg", **severity))
    assert line == f"2025-12-04T14:28:36.250Z {shown}:app:msg\n"
    assert json.loads(format_record(_one_record(providers, body="msg", **severity), json_lines=True))["level"] == shown


def test_code_attributes_are_hidden_and_the_stack_trace_follows_the_line(providers: Providers) -> None:
    attributes = {"code.file.path": "train.py", "exception.stacktrace": "Traceback\n  File x\nKeyError: 1\n", "k": 1}
    record = _one_record(providers, body="failed", severity_text="ERROR", attributes=attributes)
    assert (
        format_record(record)
        == '2025-12-04T14:28:36.250Z ERROR:app:failed {"k": 1}\nTraceback\n  File x\nKeyError: 1\n'
    )
    data = json.loads(format_record(record, json_lines=True))  # JSON lines keep every attribute as a key
    assert (data["code.file.path"], data["k"], data["message"]) == ("train.py", 1, "failed")


def test_a_json_attribute_never_replaces_a_documented_key(providers: Providers) -> None:
    record = _one_record(providers, body="real", severity_text="INFO", attributes={"message": "fake", "level": "X"})
    data = json.loads(format_record(record, json_lines=True))
    assert (data["message"], data["level"], data["logger"]) == ("real", "INFO", "app")


def test_a_mapping_body_is_json_on_a_text_line_and_none_is_empty(providers: Providers) -> None:
    assert format_record(_one_record(providers, body={"b": [1, "é"]})).endswith(':app:{"b": [1, "é"]}\n')
    assert format_record(_one_record(providers, body=None)) == "2025-12-04T14:28:36.250Z UNSPECIFIED:app:\n"


def test_tagged_metrics_merge_the_three_forms_in_order() -> None:
    body = {"metrics": {"loss": 1.0, "acc": 0.5}, "step": 1}
    attributes = {"metrics": {"loss": 2.0}, "step": 2, "runlog.metric.loss": 3.0, "runlog.metric.lr": 0.1}
    assert tagged_metrics(body, attributes) == ({"loss": 3.0, "acc": 0.5, "lr": 0.1}, 2)
    assert tagged_metrics(body, {**attributes, "runlog.step": 7}) == ({"loss": 3.0, "acc": 0.5, "lr": 0.1}, 7)
    assert tagged_metrics(body, None) == ({"loss": 1.0, "acc": 0.5}, 1)


@pytest.mark.parametrize(
    ("body", "attributes"),
    [
        ("metrics", {"metrics": "not a mapping", "step": 3}),
        ({"metrics": [1, 2]}, {}),
        ("text", {"runlog.metric.": 1.0, "runlog.other": 2, "loss": 0.5}),  # no name after the prefix; not tagged
    ],
)
def test_what_is_not_a_tagged_metric(body: Any, attributes: dict[str, Any]) -> None:
    metrics, step = tagged_metrics(body, attributes)
    assert metrics == {} and step is None


def test_a_plain_step_attribute_counts_only_with_a_metrics_mapping() -> None:
    assert tagged_metrics("x", {"runlog.step": 4}) == ({}, 4)  # a runlog.* attribute: its step counts
    assert tagged_metrics("x", {"step": 4}) == ({}, None)  # a plain "step" attribute alone is no tag
