"""Tests of runlog._capture.jsonformat: the JSON-lines formatter of RunHandler(json=True)."""

from __future__ import annotations

import json
import logging
import sys

from runlog._capture.driverlog import format_utc
from runlog._capture.jsonformat import DEFAULT_JSON_FORMAT, RunJsonFormatter


def _record(msg: str = "hello", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app.train", logging.WARNING, __file__, 7, msg, None, None)
    record.created = 1764858516.25
    record.__dict__.update(extra)
    return record


def test_default_fields_are_renamed_and_the_time_is_utc() -> None:
    data = json.loads(RunJsonFormatter().format(_record()))
    assert data == {"time": format_utc(1764858516.25), "level": "WARNING", "logger": "app.train", "message": "hello"}
    assert data["time"] == "2025-12-04T14:28:36.250Z"


def test_extra_fields_and_tagged_metrics_are_keys() -> None:
    data = json.loads(RunJsonFormatter().format(_record(metrics={"loss": 0.5}, step=3, user="ann")))
    assert (data["metrics"], data["step"], data["user"]) == ({"loss": 0.5}, 3, "ann")


def test_non_ascii_text_is_kept_as_is() -> None:
    line = RunJsonFormatter().format(_record("température 20°C"))
    assert "température 20°C" in line and "\\u" not in line


def test_an_exception_is_the_exc_info_key() -> None:
    try:
        raise ValueError("bad batch")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    data = json.loads(RunJsonFormatter().format(record))
    assert data["exc_info"].startswith("Traceback") and data["exc_info"].endswith("ValueError: bad batch")


def test_a_datefmt_given_is_followed() -> None:
    data = json.loads(RunJsonFormatter(datefmt="%Y").format(_record()))
    assert len(data["time"]) == 4 and data["time"].isdigit()


def test_a_format_and_renames_given_replace_the_defaults() -> None:
    formatter = RunJsonFormatter("%(levelname)s %(message)s", rename_fields={"levelname": "severity"})
    assert json.loads(formatter.format(_record())) == {"severity": "WARNING", "message": "hello"}
    assert "%(asctime)s" in DEFAULT_JSON_FORMAT


def test_trace_ids_are_added_while_a_span_records() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    formatter = RunJsonFormatter()
    assert "trace_id" not in json.loads(formatter.format(_record()))
    with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
        data = json.loads(formatter.format(_record()))
        ctx = span.get_span_context()
    assert (data["trace_id"], data["span_id"]) == (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
