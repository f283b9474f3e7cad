"""Decoding events files: JSON lines of ``[kind, name, value, step, time]`` into columns, checked per
line and per kind, and merging the files of a run by time (see ``docs/store-format.md``, "Events files").
"""

from __future__ import annotations

import heapq
import itertools
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .damage import report_damage

__all__ = [
    "METRIC_KINDS",
    "EventColumns",
    "merge_by_time",
    "metric_only",
    "parse_columns",
    "parse_lines",
    "point_names",
    "valid_event",
]


@dataclass
class EventColumns:
    """Events as five parallel lists (kind, name, value, step, time), in logged order."""

    kinds: list[Any] = field(default_factory=list)
    names: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    steps: list[Any] = field(default_factory=list)
    times: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.kinds)

    def rows(self) -> list[list[Any]]:
        return [list(e) for e in zip(self.kinds, self.names, self.values, self.steps, self.times)]

    def extend(self, other: EventColumns) -> None:
        self.kinds += other.kinds
        self.names += other.names
        self.values += other.values
        self.steps += other.steps
        self.times += other.times

    def take(self, order: list[int]) -> EventColumns:
        return EventColumns(
            [self.kinds[i] for i in order],
            [self.names[i] for i in order],
            [self.values[i] for i in order],
            [self.steps[i] for i in order],
            [self.times[i] for i in order],
        )


# Joins the lines of an events file for the fast parse (see parse_columns): a string no writer
# writes (random per process), so a line of 4 values next to one of 6 cannot pass for two of 5.
_LINE_SEP = secrets.token_hex(8)
_LINE_SEP_JSON = f',"{_LINE_SEP}",'.encode()

METRIC_KINDS = frozenset({"s", "l", "r", "t", "i", "n"})
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
_STEP_TYPES = frozenset({int, type(None)})
_TIME_TYPES = frozenset({float, int, type(None)})  # null: a hand-edited line, read as time 0

def _scalar(value: Any) -> bool:
    return type(value) in _SCALAR_TYPES


def valid_event(kind: Any, name: Any, value: Any, step: Any, ts: Any) -> bool:
    """Whether one ``[kind, name, value, step, time]`` event has the types its kind needs.

    Any kind (a str) with an int or null step and a numeric time is an event; the metric kinds
    (``docs/store-format.md``) also need a non-empty str name and a value of their shape. Kinds
    this version does not know pass whatever their name and value: readers ignore them.
    """
    if type(kind) is not str or type(step) not in _STEP_TYPES or type(ts) not in _TIME_TYPES:
        return False
    if kind not in METRIC_KINDS:
        return True
    if type(name) is not str or not name:
        return False
    if kind == "s":
        return _scalar(value)
    if kind == "n":
        return type(value) is int and value >= 0
    if kind == "i":
        return type(value) is str
    if kind == "l":
        return type(value) is list and all(map(_scalar, value))
    if type(value) is not dict or not all(type(c) is str for c in value):
        return False
    if kind == "r":
        return all(map(_scalar, value.values()))
    return all(type(v) is list and all(map(_scalar, v)) for v in value.values())  # "t"


def _fast_valid(columns: EventColumns) -> bool:
    """The usual file (str kinds, int/null steps, numeric times, only scalars or names), checked in C."""
    if set(map(type, columns.kinds)) != {str} or not set(map(type, columns.steps)) <= _STEP_TYPES:
        return False
    if not set(map(type, columns.times)) <= _TIME_TYPES:
        return False
    kinds = set(columns.kinds)
    if kinds.isdisjoint(METRIC_KINDS):
        return True  # meta events: their values are checked by RunReader.state
    if not kinds <= {"s", "n"} or set(map(type, columns.names)) != {str} or "" in columns.names:
        return False
    if not set(map(type, columns.values)) <= _SCALAR_TYPES:
        return False
    return "n" not in kinds or all(type(v) is int and v >= 0 for k, v in zip(columns.kinds, columns.values) if k == "n")


def parse_columns(data: bytes, source: Path | str | None = None) -> EventColumns:
    """Parse the whole lines of an events file into columns; skip a torn last line and any bad line.

    Every line is a five-element JSON array, so the body with each ``]<newline>[`` turned into
    ``,<separator>,`` is itself one flat JSON array of 6 x N - 1 values: one call into the C
    decoder, no list per event, then five strided slices. A raw newline cannot occur inside a
    JSON string, so ``]<newline>[`` only ever joins two lines; the separator (a string no writer
    writes) at every sixth place proves that every line had exactly five values. A line that
    does not parse, has another arity, or has fields of the wrong types for its kind
    (:func:`valid_event`) is skipped and reported once per ``source`` file.
    """
    end = data.rfind(b"\n")
    if end < 1:
        return EventColumns()
    body = data[:end]
    flat: Any = None
    if body[:1] == b"[" and body[-1:] == b"]":
        try:
            flat = json.loads(body.replace(b"]\n[", _LINE_SEP_JSON).decode())
        except ValueError:
            flat = None
    if isinstance(flat, list):
        lines = body.count(b"\n") + 1
        if len(flat) == 6 * lines - 1 and flat[5::6].count(_LINE_SEP) == lines - 1:
            columns = EventColumns(flat[0::6], flat[1::6], flat[2::6], flat[3::6], flat[4::6])
            if _fast_valid(columns):
                return columns
    columns = EventColumns()
    unparsed = malformed = 0
    for line in body.split(b"\n"):
        try:
            event = json.loads(line)
        except ValueError:
            unparsed += 1
            continue
        if isinstance(event, list) and len(event) == 5 and valid_event(*event):
            columns.kinds.append(event[0])
            columns.names.append(event[1])
            columns.values.append(event[2])
            columns.steps.append(event[3])
            columns.times.append(event[4])
        else:
            malformed += 1
    if unparsed:
        report_damage(source, f"{unparsed} unreadable line(s)", " (not JSON: damaged or overwritten)")
    if malformed:
        report_damage(source, f"{malformed} malformed event(s)", " (not five fields of the types their kind needs)")
    return columns


def parse_lines(data: bytes) -> list[list[Any]]:
    """Parse the whole lines of an events file into ``[kind, name, value, step, time]`` lists."""
    return parse_columns(data).rows()


def point_names(columns: EventColumns) -> dict[int, str]:
    """The name ids defined by the ``n`` events of a metrics file (for its points file)."""
    return {
        nid: name
        for kind, name, nid in zip(columns.kinds, columns.names, columns.values)
        if kind == "n" and type(nid) is int and isinstance(name, str)
    }


def merge_by_time(parts: list[EventColumns]) -> EventColumns:
    """Several event columns as one ordered by time, each part keeping its own order.

    Parts are the files of a run (each in logged order); equal times keep the order of the
    parts. A part whose times go backwards somewhere (the clock was set back) still keeps its
    own order: it is merged, not sorted. A time that is not a number counts as 0.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        return EventColumns()
    if len(parts) == 1:
        return parts[0]
    merged = EventColumns()
    for part in parts:
        merged.extend(part)
    times = merged.times
    if not set(map(type, times)) <= {float, int}:
        times = [t if isinstance(t, (int, float)) and not isinstance(t, bool) else 0.0 for t in times]
    starts = [0]
    for part in parts:
        starts.append(starts[-1] + len(part))
    in_order = all(times[a:b] == sorted(times[a:b]) for a, b in itertools.pairwise(starts))
    if in_order:  # the usual case: a stable sort is the merge, and runs in C
        order = sorted(range(len(times)), key=times.__getitem__)
    else:
        order = list(heapq.merge(*(range(a, b) for a, b in itertools.pairwise(starts)), key=times.__getitem__))
    return merged.take(order)


def metric_only(columns: EventColumns) -> EventColumns:
    """The metric events of ``columns``: the ``n`` lines and kinds this version does not know dropped."""
    if set(columns.kinds) <= METRIC_KINDS - {"n"}:
        return columns
    return columns.take([i for i, k in enumerate(columns.kinds) if k in METRIC_KINDS and k != "n"])
