"""Compiled ``%``-style log formats: what ``Formatter.format`` makes of a plain record, in one step.

:func:`compile_formatter` turns a formatter into a function ``(record, record.__dict__) -> str``
whose result is byte-identical to ``formatter.format(record)`` for a record without exception
or stack information, with the same side effects (``record.message``, and ``record.asctime``
when the format uses the time) unless compiled with ``side_effects=False`` (what ``RunHandler``
does: two new keys in a fresh record's dict cost more than the rest of the format). It is
generated once per formatter from the format string:

- ``%(key)<spec>`` fields (any record attribute, any conversion ``diouxXeEfFgGcrsa`` with its
  flags, width and precision) and literal text (``%%`` included) become one f-string, each field
  formatted as ``fmt % record.__dict__`` formats it (see :func:`_fstring_body`);
- ``asctime`` is formatted with the last text kept: runlog's UTC ISO-8601 time (a ``formatTime``
  that is :func:`utc_format_time`, as ``RunFormatter``'s) kept with the exact range of times that
  share it (one millisecond, :func:`utc_millisecond`), ``time.strftime(datefmt, converter(created))``
  kept per second, or the stdlib's ``default_time_format``/``default_msec_format`` (``converter``
  ``time.localtime`` or ``time.gmtime``: what the stdlib's ``formatTime`` does) kept per second and
  ``msecs`` value;
- literal text is part of the f-string (or a constant when it has quotes, backslashes or
  characters outside printable ASCII);
- the message is ``LogRecord.getMessage`` inlined (a record of another class calls its own);
- a field that ``LogRecord.__init__`` sets (``levelname``, ``name``, ``lineno``, ...) is read as an
  attribute of a record whose class is ``LogRecord`` (no descriptor on the class can differ from
  its ``__dict__`` entry), ``d[key]`` otherwise (``fmt % record.__dict__`` reads the dict).

Anything else returns ``None`` and the caller uses ``formatter.format``: another formatter class,
a method replaced on the class or the instance, ``{``/``$`` styles, ``defaults=``, a field spec
``%`` formatting with a mapping accepts but this parser does not (length modifiers, ``*``), or
a ``converter`` other than ``time.localtime``/``time.gmtime`` (the converter is read from the
formatter per record, as ``formatTime`` reads it: one set later on the class or the instance is
used from the next record, a converter of the user's own then called for every record). A field missing from the record
raises ``KeyError`` (``Formatter.format`` raises ``ValueError``): the caller then calls
``formatter.format`` for the stdlib's own error.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

from .driverlog import format_utc

__all__ = ["CompiledFormat", "compile_formatter", "parse_percent_format", "utc_format_time", "utc_millisecond"]

CompiledFormat = Callable[[logging.LogRecord, dict[str, Any]], str]

# One field of a %-style format with a mapping key, or an escaped percent sign.
_FIELD = re.compile(r"%(?:\((\w+)\)([#0+ \-]*\d*(?:\.\d*)?[diouxXeEfFgGcrsa])|%)")

_METHODS = ("format", "formatMessage", "formatTime", "usesTime", "formatException", "formatStack")
_ORIGINAL = {name: getattr(logging.Formatter, name) for name in _METHODS}
_CONVERTERS = {time.localtime: "localtime", time.gmtime: "gmtime"}


def _pieces(fmt: str) -> list[tuple[str, str | None, str]] | None:
    """``fmt`` as ``(literal text, key or None, conversion spec)`` pieces, or None when a ``%`` is not understood."""
    pieces: list[tuple[str, str | None, str]] = []
    pos = 0
    for match in _FIELD.finditer(fmt):
        literal = fmt[pos : match.start()]
        if "%" in literal:
            return None
        key = match.group(1)
        pieces.append((literal if key is not None else literal + "%", key, match.group(2) or ""))
        pos = match.end()
    tail = fmt[pos:]
    if "%" in tail:
        return None
    pieces.append((tail, None, ""))
    return pieces


def parse_percent_format(fmt: str) -> tuple[str, list[str]] | None:
    """``("%s %-8s:%s", ["asctime", "levelname", "message"])`` for ``"%(asctime)s %(levelname)-8s:%(message)s"``.

    The positional format and its keys, so that ``positional % tuple(d[k] for k in keys)`` equals
    ``fmt % d`` for every mapping ``d`` holding the keys; None for a format this parser does not
    take (a ``%`` not part of a field it knows).
    """
    pieces = _pieces(fmt)
    if pieces is None:
        return None
    positional = "".join(text.replace("%", "%%") + ("%" + spec if key is not None else "") for text, key, spec in pieces)
    return positional, [key for _, key, _ in pieces if key is not None]


def utc_format_time(self: logging.Formatter, record: logging.LogRecord, datefmt: str | None = None) -> str:
    """``formatTime`` of runlog's text lines: UTC ISO 8601 with milliseconds, or ``datefmt`` as the stdlib does."""
    if datefmt:
        return logging.Formatter.formatTime(self, record, datefmt)
    return format_utc(record.created)


def _first_at_least(guess: float, key: tuple[int, int]) -> float | None:
    """The smallest time ``x`` near ``guess`` whose (second, millisecond) of :func:`format_utc` is at least ``key``."""
    x = guess
    for _ in range(64):  # (a few steps from the guess at today's times; tiny times may need more: then None)
        if (int(x), int((x % 1) * 1000)) >= key:
            below = math.nextafter(x, -math.inf)
            if (int(below), int((below % 1) * 1000)) < key:
                return x
            x = below
        else:
            x = math.nextafter(x, math.inf)
    return None


def utc_millisecond(created: float) -> tuple[float, float, str]:
    """``(start, end, format_utc(created))``: every time ``start <= x < end`` has that same text.

    ``format_utc`` is ``(int(x), int((x % 1) * 1000))`` written out, which never decreases as ``x``
    grows (for ``x >= 0``): so the times of one text are one range, found from ``created`` with a
    few ``math.nextafter`` steps. An empty range (``start > end``) when it cannot be found that way.
    """
    text = format_utc(created)
    if not 0.0 <= created < 2.0**52:  # (negative or huge times, NaN: not cached)
        return (1.0, 0.0, text)
    sec = int(created)
    ms = int((created % 1) * 1000)
    start = _first_at_least(sec + ms / 1000, (sec, ms))
    end = _first_at_least(sec + (ms + 1) / 1000, (sec, ms + 1))  # (ms + 1 == 1000: the next second, or ".1000Z")
    if start is None or end is None or not start <= created < end:
        return (1.0, 0.0, text)
    return (start, end, text)


def compile_formatter(
    formatter: logging.Formatter,
    same_format: tuple[Any, ...] = (),
    *,
    newline: bool = False,
    side_effects: bool = True,
) -> CompiledFormat | None:
    """The compiled format of ``formatter`` (see the module documentation), or None.

    ``newline=True``: the text ends with ``"\\n"`` (what a handler writes), at no extra cost.
    ``side_effects=False``: ``record.message`` and ``record.asctime`` are not set (the text is the same).
    ``same_format``: ``format`` methods of subclasses that do what ``Formatter.format`` does for
    the records the caller compiles for (``RunFormatter.format`` for a msg that is not a dict).
    A ``formatTime`` that is :func:`utc_format_time` is compiled too.
    """
    cls = type(formatter)
    if not issubclass(cls, logging.Formatter) or cls.format not in (_ORIGINAL["format"], *same_format):
        return None
    if any(getattr(cls, name) is not _ORIGINAL[name] for name in _METHODS if name not in ("formatTime", "format")):
        return None  # a method overridden by the class, or patched on it
    if not set(_METHODS).isdisjoint(formatter.__dict__):
        return None  # a method replaced on the instance
    style = getattr(formatter, "_style", None)
    if type(style) is not logging.PercentStyle or getattr(style, "_defaults", None):
        return None
    fmt = style._fmt
    if not isinstance(fmt, str):
        return None
    pieces = _pieces(fmt)
    if pieces is None or any(key is not None and "\\" in repr(key) for _, key, _ in pieces):
        return None  # (a key whose repr has a backslash cannot sit in an f-string's expression)
    namespace: dict[str, Any] = {"LogRecord": logging.LogRecord, "strftime": time.strftime}
    lines = ["def compiled(record, d):"]
    if side_effects:
        lines.append("    record.message = msg = record.getMessage()")
    if formatter.usesTime():  # (a substring test, as the stdlib's: set asctime whenever it would)
        time_lines = _time_lines(formatter, cls, namespace)
        if time_lines is None:
            return None
        lines += time_lines
        if side_effects:
            lines.append("    record.asctime = asctime")
    # A record of the class LogRecord: the message made as getMessage makes it (inlined) and the
    # fields LogRecord.__init__ sets read as attributes; a record of another class: its own
    # getMessage and the dict, as Formatter.format reads them.
    before, body = _fstring_body(pieces, newline, namespace, attributes=True)
    lines += [
        "    if record.__class__ is LogRecord:",
        *(
            []
            if side_effects
            else [
                "        msg = record.msg",
                "        if msg.__class__ is not str:",
                "            msg = str(msg)",
                "        args = record.args",
                "        if args:",
                "            msg = msg % args",
            ]
        ),
        *("    " + line for line in before),
        f"        return f\"{body}\"",
    ]
    if not side_effects:
        lines.append("    msg = record.getMessage()")
    before, body = _fstring_body(pieces, newline, namespace, attributes=False)
    lines += before
    lines.append(f"    return f\"{body}\"")
    exec("\n".join(lines), namespace)  # source built above from \w+ keys and repr()-ed constants
    compiled: CompiledFormat = namespace["compiled"]
    return compiled


# Literal text written into the generated f-string as it is: printable ASCII but quotes and backslashes.
_PLAIN_TEXT = re.compile(r"[ !#-&(-\[\]-~]+")
_SPEC = re.compile(r"([#0+ \-]*)(\d*)(?:\.(\d*))?([a-zA-Z])")


# What LogRecord.__init__ sets on every record (of this Python: taskName since 3.12).
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)


def _fstring_body(
    pieces: list[tuple[str, str | None, str]], newline: bool, namespace: dict[str, Any], *, attributes: bool = False
) -> tuple[list[str], str]:
    """Lines to run first, and the inside of an f-string equal to the positional ``%`` of the pieces.

    Literal text is a constant. ``%s``/``%r``/``%a`` with no flag but ``-``, a width and a precision
    are ``{v!s:<W.P}`` (``>`` without ``-``): the same ``str``/``repr``/``ascii`` call, then the same
    padding and cut of a string. ``%d``/``%i``/``%u`` with no flag but ``-`` and a width are ``{v:>W}``
    of an exact ``int`` (what ``%d`` makes of it), the field's own ``%`` otherwise (a float, a bool:
    the value is replaced by that text first, which the padding then leaves as it is). Any other spec
    is ``{(S % (v,))}`` with the spec's own ``%``. ``attributes``: the fields of
    ``_RECORD_ATTRIBUTES`` are ``record.<key>`` (for a record of the class ``LogRecord``).
    """
    body: list[str] = []
    before: list[str] = []

    def constant(value: str) -> str:
        name = f"C{len(namespace)}"
        namespace[name] = value
        return name

    for text, key, spec in pieces:
        if text and _PLAIN_TEXT.fullmatch(text):  # in the f-string itself: no name to look up
            body.append(text.replace("{", "{{").replace("}", "}}"))
        elif text:
            body.append("{" + constant(text) + "}")
        if key is None:
            continue
        if key in ("message", "asctime"):
            value = "msg" if key == "message" else "asctime"
        elif attributes and key in _RECORD_ATTRIBUTES:
            value = f"record.{key}"
        else:
            value = f"d[{key!r}]"
        match = _SPEC.fullmatch(spec)
        flags, width, precision, conversion = match.groups() if match else ("#", "", None, "")
        align = "<" if flags == "-" else ">"
        if flags in ("", "-") and conversion in ("s", "r", "a"):
            cut = "" if precision is None else "." + (precision or "0")
            fmt_spec = (align + width if width else "") + cut
            body.append("{" + value + "!" + conversion + (":" + fmt_spec if fmt_spec else "") + "}")
        elif flags in ("", "-") and conversion in ("d", "i", "u") and precision is None:
            local = f"v{len(before)}"
            before.append(f"    {local} = {value}")
            before.append(f"    if {local}.__class__ is not int:")
            before.append(f"        {local} = {constant('%' + spec)} % ({local},)")
            body.append("{" + local + (":" + align + width if width else "") + "}")
        else:
            body.append("{(" + constant("%" + spec) + " % (" + value + ",))}")
    if newline:
        body.append("\\n")
    return before, "".join(body) or "{" + constant("") + "}"


def _time_lines(formatter: logging.Formatter, cls: type[logging.Formatter], namespace: dict[str, Any]) -> list[str] | None:
    """The lines that set ``asctime`` as ``formatter.formatTime(record, formatter.datefmt)`` would."""
    datefmt = formatter.datefmt
    format_time = cls.formatTime
    namespace["cache"] = [(None, "")]
    if format_time is utc_format_time and not datefmt:
        namespace["utc_millisecond"] = utc_millisecond
        namespace["cache"] = [(1.0, 0.0, "")]  # (from, until, format_utc of the times between): empty at first
        # format_utc(created), cached per millisecond: the exact range of times sharing one text.
        return [
            "    created = record.created",
            "    c = cache[0]",
            "    if c[0] <= created < c[1]:",
            "        asctime = c[2]",
            "    else:",
            "        c = utc_millisecond(created)",
            "        asctime = c[2]",
            "        cache[0] = c",
        ]
    if format_time is not _ORIGINAL["formatTime"] and format_time is not utc_format_time:
        return None
    converter = formatter.converter
    if converter not in _CONVERTERS:
        return None
    namespace["fmtr"] = formatter
    namespace["localtime"], namespace["gmtime"] = time.localtime, time.gmtime
    # converter(created) floors a float to whole seconds: so is the cache key (// 1). The converter is
    # read from the formatter per record, as formatTime reads it (``logging.Formatter.converter =
    # time.gmtime`` set on the class after this was compiled is seen at once); the text is kept only
    # for localtime and gmtime (another converter is called for every record, as formatTime calls it).
    lines = [
        "    created = record.created",
        "    convert = fmtr.converter",
        "    sec = created // 1",
        "    c = cache[0]",
        "    if c[0] != sec or c[2] is not convert:",
        "        c = (sec, strftime(TF, convert(created)), convert)",
        "        if convert is localtime or convert is gmtime:",
        "            cache[0] = c",
    ]
    namespace["cache"] = [(None, "", None)]
    if datefmt:
        namespace["TF"] = datefmt
        return [*lines, "    asctime = c[1]"]
    namespace["TF"] = formatter.default_time_format
    msec_format = formatter.default_msec_format
    if not msec_format:
        return [*lines, "    asctime = c[1]"]
    namespace["MF"] = msec_format
    namespace["ms_cache"] = [(1.0, 0.0, None, "", None)]  # (second, next second, msecs, asctime, converter): empty
    # The text of one second and one ``msecs`` value, kept: ``created // 1 == second`` exactly when
    # ``second <= created < second + 1``, and equal ``msecs`` values make the same ``%03d``.
    return [
        "    created = record.created",
        "    convert = fmtr.converter",
        "    msecs = record.msecs",
        "    m = ms_cache[0]",
        "    if m[0] <= created < m[1] and msecs == m[2] and m[4] is convert:",
        "        asctime = m[3]",
        "    else:",
        *("    " + line for line in lines[2:]),
        "        asctime = MF % (c[1], msecs)",
        "        if convert is localtime or convert is gmtime:",
        "            ms_cache[0] = (sec, sec + 1, msecs, asctime, convert)",
    ]
