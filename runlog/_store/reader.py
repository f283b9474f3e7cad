"""Reading a run back from the store, without the writer's process.

A reader may run while writers append: each events file is read up to its last
newline, so a torn last line (a writer killed mid-write, or still writing) is
skipped, never an error.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import layout

__all__ = [
    "EventColumns",
    "RunReader",
    "RunState",
    "decode_points",
    "merge_by_time",
    "parse_columns",
    "parse_lines",
    "point_columns",
    "point_names",
    "points_path",
    "read_columns",
    "read_process",
]

POINT_SIZE, NO_STEP = layout.POINT_SIZE, layout.NO_STEP

_log = logging.getLogger("runlog.store")


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


def parse_columns(data: bytes) -> EventColumns:
    """Parse the whole lines of an events file into columns; skip a torn last line and any bad line.

    Every line is a five-element JSON array, so the body with each ``]<newline>[`` turned into
    ``,`` is itself one flat JSON array of 5 x N values: one call into the C decoder, no list per
    event, then five strided slices. A raw newline cannot occur inside a JSON string, so
    ``]<newline>[`` only ever joins two lines.
    """
    end = data.rfind(b"\n")
    if end < 1:
        return EventColumns()
    body = data[:end]
    flat: Any = None
    if body[:1] == b"[" and body[-1:] == b"]":
        try:
            flat = json.loads(body.replace(b"]\n[", b",").decode())
        except ValueError:
            flat = None
    if isinstance(flat, list) and len(flat) == 5 * (body.count(b"\n") + 1):
        return EventColumns(flat[0::5], flat[1::5], flat[2::5], flat[3::5], flat[4::5])
    columns = EventColumns()
    skipped = 0
    for line in body.split(b"\n"):
        try:
            event = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if isinstance(event, list) and len(event) == 5:
            columns.kinds.append(event[0])
            columns.names.append(event[1])
            columns.values.append(event[2])
            columns.steps.append(event[3])
            columns.times.append(event[4])
        else:
            skipped += 1
    if skipped:
        _log.debug("skipped %d unreadable line(s) in an events file", skipped)
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


def point_columns(view: memoryview) -> tuple[list[int], list[Any], list[Any], list[Any]]:
    """Name ids, values (as logged: float, int, bool or None), steps (None for none) and times of
    whole 32-byte records, column by column with strided ``memoryview`` casts (no per-record
    ``struct.unpack``)."""
    u32, f64, i64 = view.cast("I"), view.cast("d"), view.cast("q")
    types = u32[1::8].tolist()
    kinds = set(types)
    values: list[Any]
    if kinds == {layout.T_FLOAT}:
        values = f64[1::4].tolist()
    elif kinds == {layout.T_INT}:
        values = i64[1::4].tolist()
    else:
        floats, ints = f64[1::4].tolist(), i64[1::4].tolist()
        values = [
            floats[i] if t == layout.T_FLOAT else ints[i] if t == layout.T_INT else bool(ints[i]) if t == layout.T_BOOL else None
            for i, t in enumerate(types)
        ]
    steps: list[Any] = i64[2::4].tolist()
    if NO_STEP in steps:
        steps = [None if st == NO_STEP else st for st in steps]
    times: list[Any] = f64[3::4].tolist()
    return u32[0::8].tolist(), values, steps, times


def decode_points(data: bytes | memoryview, names: dict[int, str]) -> EventColumns:
    """The whole 32-byte records of a points file as ``s`` events (see ``docs/store-format.md``).

    A torn last record is not read. Records whose name id ``names`` does not define are
    skipped: read in the documented order (the points first, then the metrics file; see
    :func:`read_process`) that only happens when the ``n`` line was lost (a write that
    failed half-way), and then only that name's points are lost.
    """
    n = len(data) // POINT_SIZE
    if not n:
        return EventColumns()
    ids, values, steps, times = point_columns(memoryview(data)[: n * POINT_SIZE])
    unknown = set(ids).difference(names)
    if unknown:  # a name whose "n" line was lost (a damaged metrics file): its points are skipped
        _log.debug("points file: skipped the points of undefined name id(s) %s", sorted(unknown))
        keep = [i for i, nid in enumerate(ids) if nid not in unknown]
        ids = [ids[i] for i in keep]
        values, steps, times = [values[i] for i in keep], [steps[i] for i in keep], [times[i] for i in keep]
        n = len(ids)
        if not n:
            return EventColumns()
    name_list = [names[i] for i in ids] if len(names) > 1 else [names[ids[0]]] * n
    return EventColumns(["s"] * n, name_list, values, steps, times)


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


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def points_path(metrics_path: Path) -> Path:
    """The points file that goes with a ``<proc>.metrics.jsonl`` file."""
    return metrics_path.with_name(metrics_path.name[: -len(layout.METRICS_SUFFIX)] + layout.POINTS_SUFFIX)


def read_process(metrics_path: Path) -> EventColumns:
    """Every metric event one process wrote (its metrics file and its points file), in order.

    The points file is read first: every point in it was written after the ``n`` line
    defining its name, so the metrics file read afterwards defines all of them.
    """
    points = _read(points_path(metrics_path))
    columns = parse_columns(_read(metrics_path))
    if "n" in columns.kinds:
        names = point_names(columns)
        keep = [i for i, k in enumerate(columns.kinds) if k != "n"]
        columns = columns.take(keep)
    else:
        names = {}
    if not points:
        return columns
    return merge_by_time([columns, decode_points(points, names)])


def read_columns(files: list[Path]) -> EventColumns:
    """The events of the metrics files of one run (with their points files), merged by time."""
    return merge_by_time([read_process(path) for path in files])


@dataclass
class RunState:
    """What the meta events of a run add up to."""

    status: str = "NotStarted"
    start_time: float | None = None
    end_time: float | None = None
    error: Any = None
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    metric_descriptions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


_TERMINAL = {"Completed", "Failed", "Canceled"}


class RunReader:
    """Read-only view of one run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.files_dir = run_dir / layout.FILES_DIR

    def exists(self) -> bool:
        return (self.run_dir / layout.RUN_RECORD).is_file()

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = layout.read_json(self.run_dir / layout.RUN_RECORD)
        return data

    def _event_files(self, suffix: str) -> list[Path]:
        events_dir = self.run_dir / layout.EVENTS_DIR
        try:
            names = os.listdir(events_dir)
        except FileNotFoundError:
            return []
        return [events_dir / n for n in sorted(names) if n.endswith(suffix)]

    def metric_columns(self) -> EventColumns:
        """Every metric event as columns, in logged order (the fast way to read many points)."""
        return read_columns(self._event_files(layout.METRICS_SUFFIX))

    def metric_events(self) -> list[list[Any]]:
        """Every metric event ``[kind, name, value, step, time]``, in logged order."""
        return self.metric_columns().rows()

    def meta_events(self) -> list[list[Any]]:
        return merge_by_time([parse_columns(_read(p)) for p in self._event_files(layout.META_SUFFIX)]).rows()

    def state(self) -> RunState:
        state = RunState()
        for kind, key, value, _step, ts in (e[:5] for e in self.meta_events()):
            if kind == "status":
                # A terminal status is final: a late "Running" from a straggling process
                # does not reopen a run.
                if state.status in _TERMINAL and key not in _TERMINAL:
                    continue
                state.status = key
                if key == "Running" and state.start_time is None:
                    state.start_time = ts
                if key in _TERMINAL:
                    state.end_time = ts
                    if isinstance(value, dict) and value.get("error") is not None:
                        state.error = value["error"]
            elif kind == "tag":
                state.tags[key] = value
            elif kind == "untag":
                state.tags.pop(key, None)
            elif kind == "prop":
                state.properties.setdefault(key, value)
            elif kind == "name":
                state.display_name = value
            elif kind == "description":
                state.description = value
            elif kind == "metric_description":
                state.metric_descriptions[key] = value
            else:
                state.extra[kind] = value if key is None else {**state.extra.get(kind, {}), key: value}
        return state

    def file_names(self) -> list[str]:
        names = []
        root = self.files_dir
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            for f in filenames:
                if f.startswith(layout.TEMP_FILE_PREFIXES):
                    continue
                names.append(f if rel == "." else f"{rel}/{f}".replace(os.sep, "/"))
        return sorted(names)

    def file_path(self, name: str) -> Path:
        """The stored path of a run file, refusing names outside the run."""
        path = self.files_dir / layout.check_file_name(name)
        resolved = path.resolve()
        if not resolved.is_relative_to(self.files_dir.resolve()):
            raise ValueError(f"{name!r} points outside the run's files; use a name from get_file_names()")
        return path

    def iter_log_names(self) -> Iterator[str]:
        return (n for n in self.file_names() if n.startswith(layout.LOGS_PREFIX))
