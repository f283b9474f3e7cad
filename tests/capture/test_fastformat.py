"""runlog._capture.fastformat: a compiled %-style format writes exactly what Formatter.format writes (property-based)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import runlog
from runlog._capture.fastformat import compile_formatter, parse_percent_format
from runlog.stdlib import DEFAULT_FORMAT, RunFormatter

SAME_FORMAT = (RunFormatter.format,)
SETTINGS = settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


pytestmark = pytest.mark.usefixtures("local_time_is_not_utc")


# Record attributes a format may name, with conversion specs that suit (and some that do not: both raise).
STR_FIELDS = ["asctime", "levelname", "name", "message", "filename", "funcName", "module", "pathname", "threadName"]
INT_FIELDS = ["process", "thread", "lineno", "levelno"]
STR_SPECS = ["s", "s", "s", "r", "a", "-8s", "10s", ".3s", "-12.5s", "d"]
INT_SPECS = ["s", "d", "d", "5d", "-6d", "03d", "x", "X", "o", "r", "+d", " d", "#x", ".2f", "e", "g", "c"]
FLOAT_SPECS = ["s", "d", "03d", ".1f", "f", "g", "r"]

literal = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="%"), max_size=8)
field = st.one_of(
    st.tuples(st.sampled_from(STR_FIELDS), st.sampled_from(STR_SPECS)),
    st.tuples(st.sampled_from(INT_FIELDS), st.sampled_from(INT_SPECS)),
    st.tuples(st.sampled_from(["msecs", "created", "relativeCreated"]), st.sampled_from(FLOAT_SPECS)),
    st.tuples(st.sampled_from(["user", "missing"]), st.sampled_from(["s", "r", "5s", "d", "-4d", "i", "u", ".2s", "-3r", "a"])),
)
piece = st.one_of(literal, field, st.just("%%"))


@st.composite
def formats(draw: st.DrawFn) -> str:
    parts = draw(st.lists(piece, min_size=1, max_size=7))
    return "".join(p if isinstance(p, str) else f"%({p[0]}){p[1]}" for p in parts)


class Shown:
    """A message object whose str() is not its repr."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return f"<{self.text}>"


arg = st.one_of(st.integers(-(10**12), 10**12), st.text(max_size=6), st.floats(allow_nan=False, width=32), st.none())


@st.composite
def messages(draw: st.DrawFn) -> tuple[Any, Any]:
    kind = draw(st.sampled_from(["plain", "args", "mapping", "object", "number", "bad-args"]))
    text = draw(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="%"), max_size=12))
    if kind == "plain":
        return text + draw(st.sampled_from(["", " 100%", " %d"])), ()
    if kind == "args":
        values = draw(st.lists(arg, min_size=1, max_size=3))
        return text + " " + " ".join("%s" if i % 2 else "%r" for i in range(len(values))), tuple(values)
    if kind == "mapping":
        return text + " %(a)s/%(b)r", ({"a": draw(arg), "b": draw(arg)},)
    if kind == "object":
        return Shown(text), ()
    if kind == "number":
        return draw(st.integers()), ()
    return text + " %d", ("not a number",)


datefmts = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["%Y-%m-%d %H:%M:%S", "%H:%M", "%d/%b/%Y:%H:%M:%S %z", "%s", "[%j] %p %%", "%Y"]),
)


def _record(draw: st.DrawFn, msg: Any, args: Any) -> logging.LogRecord:
    created = draw(st.one_of(st.floats(min_value=0, max_value=4e9), st.floats(min_value=-1e5, max_value=0), st.just(float("nan"))))
    record = logging.LogRecord(
        name=draw(st.text(max_size=10)),
        level=draw(st.sampled_from([5, logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, 55])),
        pathname=draw(st.sampled_from(["/srv/app/train.py", "x.py", "", "C:\\job\\run.py"])),
        lineno=draw(st.integers(0, 10**6)),
        msg=msg,
        args=args,
        exc_info=None,
        func=draw(st.sampled_from(["main", "<module>", "step", None])),
    )
    record.created = created
    record.msecs = draw(st.sampled_from([999.0, 0.0, 12.0] if created != created else [int((created - int(created)) * 1000) + 0.0, 999.0, 0.0]))
    record.process = draw(st.one_of(st.none(), st.integers(0, 2**22)))
    record.thread = draw(st.integers(0, 2**48))
    if draw(st.booleans()):
        record.user = draw(st.one_of(st.text(max_size=5), st.integers(-999, 10**6), st.booleans(), st.floats(-1e3, 1e3), st.none()))
    return record


@st.composite
def cases(draw: st.DrawFn) -> tuple[logging.Formatter, logging.LogRecord]:
    fmt = draw(st.one_of(formats(), st.sampled_from([DEFAULT_FORMAT, "%(message)s", logging.BASIC_FORMAT])))
    datefmt = draw(datefmts)
    kind = draw(st.sampled_from(["stdlib", "runlog", "gmtime"]))
    formatter: logging.Formatter
    if kind == "runlog":
        formatter = RunFormatter(fmt, datefmt, validate=False)
    else:
        formatter = logging.Formatter(fmt, datefmt, validate=False)
        if kind == "gmtime":
            formatter.converter = time.gmtime
    msg, args = draw(messages())
    return formatter, _record(draw, msg, args)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:
        return "error", type(exc)


class _RecordSubclass(logging.LogRecord):
    """A record of another class: the compiled format reads its fields from the dict, as Formatter.format."""


def _copy(record: logging.LogRecord, subclass: bool) -> logging.LogRecord:
    if not subclass:
        return logging.makeLogRecord(dict(record.__dict__))
    copy = _RecordSubclass.__new__(_RecordSubclass)
    copy.__dict__.update(record.__dict__)
    return copy


@SETTINGS
@given(cases(), st.booleans(), st.booleans(), st.booleans())
@example((RunFormatter(), logging.makeLogRecord({"msg": "hi", "created": 1764858516.9999999, "name": "x"})), False, False, False)
@example((logging.Formatter("%(asctime)s %(message)s"), logging.makeLogRecord({"msg": "a", "created": 0.5})), True, True, False)
@example((logging.Formatter("{%(message)s}} %%%(name)s", validate=False), logging.makeLogRecord({"msg": "{}"})), True, False, True)
def test_compiled_format_is_byte_identical_to_formatter_format(
    case: tuple[logging.Formatter, logging.LogRecord], newline: bool, side_effects: bool, subclass: bool
) -> None:
    """For generated %-formats (any mix of record fields, specs and literal text), messages, arguments,
    record fields, datefmt or none, stdlib/runlog/gmtime time, records of LogRecord or a subclass: the
    compiled format returns exactly what formatter.format returns (plus "\\n" with newline=True) and raises
    where it raises; with side_effects it sets the same record.message and record.asctime, without them
    it leaves the record's dict as it was."""
    formatter, record = case
    compiled = compile_formatter(formatter, SAME_FORMAT, newline=newline, side_effects=side_effects)
    assert compiled is not None, formatter._fmt
    mine, theirs = _copy(record, subclass), _copy(record, subclass)
    before = dict(mine.__dict__)
    got = _outcome(lambda: compiled(mine, mine.__dict__))
    want = _outcome(lambda: formatter.format(theirs) + ("\n" if newline else ""))
    if want[0] == "error":
        assert got[0] == "error"  # (the handler then calls formatter.format for the stdlib's own error)
        return
    assert got == want
    if side_effects:
        assert mine.message == theirs.message
        assert getattr(mine, "asctime", None) == getattr(theirs, "asctime", None)
    else:
        assert mine.__dict__ == before


def test_a_subclass_property_is_not_what_the_format_reads() -> None:
    """Formatter.format reads a record's fields from its dict (fmt % record.__dict__): so does the compiled
    format for a record of a subclass whose class defines a property of the same name."""

    class Shadowed(logging.LogRecord):
        @property
        def levelname(self) -> str:  # type: ignore[override]
            return "FROM-PROPERTY"

        @levelname.setter
        def levelname(self, value: str) -> None:
            self.__dict__["levelname"] = value

    record = Shadowed("app", logging.INFO, __file__, 1, "hello", None, None)
    formatter = logging.Formatter("%(levelname)s:%(message)s")
    compiled = compile_formatter(formatter, SAME_FORMAT, side_effects=False)
    assert compiled is not None
    assert compiled(record, record.__dict__) == formatter.format(record) == "INFO:hello"


@SETTINGS
@given(st.text(max_size=30))
def test_parsed_format_equals_the_mapping_format(fmt: str) -> None:
    """Any text: parse_percent_format either declines it or gives a positional format that, with the values
    of its keys, equals fmt % mapping (both raising alike)."""
    parsed = parse_percent_format(fmt)
    values = {"a": 1, "b": "x", "message": "m"}
    if parsed is None:
        return
    positional, keys = parsed
    got = _outcome(lambda: positional % tuple(values[k] for k in keys))
    want = _outcome(lambda: fmt % values)
    assert got == want or (got[0] == want[0] == "error")


@pytest.mark.parametrize(
    "formatter",
    [
        logging.Formatter("{message}", style="{"),
        logging.Formatter("$message", style="$"),
        logging.Formatter("%(message)s %(extra)s", defaults={"extra": "x"}),
        logging.Formatter("%(lineno)ld %(message)s"),
        type("Sub", (logging.Formatter,), {"formatMessage": lambda self, r: "x"})("%(message)s"),
    ],
    ids=["brace", "dollar", "defaults", "length-modifier", "subclass-formatMessage"],
)
def test_unusual_formatters_are_not_compiled(formatter: logging.Formatter) -> None:
    """Styles other than %, defaults=, formats the parser does not know and overridden methods are left to
    formatter.format."""
    assert compile_formatter(formatter, SAME_FORMAT) is None


def test_a_method_or_converter_set_on_the_instance_is_not_compiled() -> None:
    """formatTime replaced on the instance, or a converter that is neither localtime nor gmtime: not compiled."""
    replaced = logging.Formatter("%(asctime)s %(message)s")
    replaced.formatTime = lambda record, datefmt=None: "T"  # type: ignore[method-assign]
    assert compile_formatter(replaced) is None
    other = logging.Formatter("%(asctime)s %(message)s")
    other.converter = lambda secs: time.localtime(secs)  # type: ignore[method-assign,assignment]
    assert compile_formatter(other) is None
    assert compile_formatter(logging.Formatter("%(message)s")) is not None


@pytest.mark.parametrize(
    "fmt",
    [DEFAULT_FORMAT, "%(asctime)s %(levelname)-8s %(name)s [%(process)d:%(thread)d] %(filename)s:%(lineno)d %(funcName)s: %(message)s"],
)
def test_runhandler_compiles_the_default_and_common_formats(exp: runlog.Experiment, fmt: str) -> None:
    """RunHandler formats the default format and a common user format through the compiled path, and the
    driver log has exactly RunFormatter's text for them (UTC asctime)."""
    handler = runlog.RunHandler() if fmt == DEFAULT_FORMAT else runlog.RunHandler(formatter=logging.Formatter(fmt))
    assert handler._compiled is not None
    log = logging.getLogger("fast.path")
    log.handlers[:] = [handler]
    log.propagate, log.level = False, logging.INFO
    run = exp.start_logging()
    try:
        records = [log.makeRecord(log.name, logging.INFO, __file__, 7, "step %d of %s", (i, "n"), None) for i in range(3)]
        for record in records:
            log.handle(record)
    finally:
        log.handlers[:] = []
    reference = RunFormatter(fmt)
    expected = "".join(reference.format(logging.makeLogRecord(dict(r.__dict__))) + "\n" for r in records)
    assert (run.path / "files" / "logs" / "driver_log.txt").read_text() == expected
    run.complete()
