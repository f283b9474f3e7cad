"""runlog._capture.formatting: which formatter a RunHandler formats with (the user's, runlog's default, or the
user's with runlog's UTC asctime), RunFormatter, and where a line gets the span ids."""

from __future__ import annotations

import logging
import re
import time

import pytest

from runlog._capture import formatting
from runlog._capture.formatting import (
    DEFAULT_FORMAT,
    TRACE_FIELDS,
    TRACE_NONE,
    TRACE_SUFFIX,
    RunFormatter,
    effective_formatter,
    trace_mode,
)

UTC_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _record(msg: object = "hello %s", args: tuple[object, ...] = ("world",)) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, __file__, 7, msg, args, None)
    record.created = 1_700_000_000.25
    record.msecs = 250.0
    return record


def test_no_formatter_is_runlogs_default() -> None:
    chosen = effective_formatter(None)
    assert type(chosen) is RunFormatter and chosen._fmt == DEFAULT_FORMAT
    assert chosen.format(_record()) == "2023-11-14T22:13:20.250Z INFO:app:hello world"


@pytest.mark.parametrize("style", ["%", "{", "$"])
def test_basicconfigs_own_default_format_is_runlogs_default_with_its_datefmt(style: str) -> None:
    """basicConfig hands every handler ``Formatter(BASIC_FORMAT)`` (per style) when given no format: the user
    named no format, so runlog's default is used; a datefmt given with it is kept."""
    fmt = {"%": logging.BASIC_FORMAT, "{": "{levelname}:{name}:{message}", "$": "${levelname}:${name}:${message}"}[
        style
    ]
    chosen = effective_formatter(logging.Formatter(fmt, "%Y", style=style))  # type: ignore[arg-type]
    assert type(chosen) is RunFormatter and chosen._fmt == DEFAULT_FORMAT and chosen.datefmt == "%Y"
    assert chosen.format(_record()) == "2023 INFO:app:hello world"


def test_asctime_without_datefmt_is_utc_in_a_copy_the_users_formatter_unchanged() -> None:
    users = logging.Formatter("%(asctime)s|%(message)s")
    chosen = effective_formatter(users)
    assert chosen is not users and type(users) is logging.Formatter
    assert re.fullmatch(UTC_STAMP + r"\|hello world", chosen.format(_record()))
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000.25)) + ",250|hello world"
    assert users.format(_record()) == local  # (a console handler sharing it keeps the local time)


@pytest.mark.parametrize(
    "make",
    [
        lambda: logging.Formatter("%(levelname)s|%(message)s"),  # no asctime
        lambda: logging.Formatter("%(asctime)s %(message)s", "%H:%M"),  # a datefmt
        lambda: logging.Formatter("%(asctime)s %(message)s", defaults={"x": 1}),  # defaults=
        lambda: type("Sub", (logging.Formatter,), {})("%(asctime)s %(message)s"),  # another class
    ],
)
def test_any_other_formatter_is_used_as_it_is(make: object) -> None:
    users = make()  # type: ignore[operator]
    assert effective_formatter(users) is users


def test_a_method_set_on_the_instance_keeps_the_users_formatter() -> None:
    users = logging.Formatter("%(asctime)s %(message)s")
    users.formatTime = lambda record, datefmt=None: "T"  # type: ignore[method-assign]
    assert effective_formatter(users) is users


def test_a_converter_set_on_the_class_keeps_the_users_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.Formatter, "converter", time.gmtime)
    users = logging.Formatter("%(asctime)s %(message)s")
    assert effective_formatter(users) is users


def test_runformatter_renders_a_structlog_event_dict() -> None:
    record = _record({"event": "epoch done", "loss": 0.5, "_private": 1}, ())
    assert RunFormatter("%(message)s").format(record) == "epoch done loss=0.5"
    assert formatting.render_event({"event": "e", "k": "v"}) == "e k='v'"


def test_trace_mode_per_formatter() -> None:
    from pythonjsonlogger.json import JsonFormatter

    assert trace_mode(logging.Formatter("%(message)s %(trace_id)s")) == TRACE_FIELDS
    assert trace_mode(logging.Formatter("%(message)s")) == TRACE_SUFFIX
    assert trace_mode(None) == TRACE_SUFFIX
    assert trace_mode(JsonFormatter()) == TRACE_NONE
