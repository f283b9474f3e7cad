"""Reading a run back from the store, without the writer's process.

A reader may run while writers append: each events file is read up to its last
newline, so a torn last line (a writer killed mid-write, or still writing) is
skipped, never an error.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import DamagedRecordError
from . import layout
from .damage import _reported, report_damage  # noqa: F401  (_reported: tests clear it)
from .records import decode_records, good_records, point_columns, realign, valid_points

__all__ = [
    "EventColumns",
    "RunReader",
    "RunState",
    "decode_points",
    "good_records",
    "merge_by_time",
    "names_path",
    "spare_names",
    "parse_columns",
    "parse_lines",
    "point_columns",
    "point_names",
    "points_path",
    "read_columns",
    "read_process",
    "realign",
    "record_problem",
    "report_damage",
    "valid_event",
    "valid_points",
]

POINT_SIZE, NO_STEP = layout.POINT_SIZE, layout.NO_STEP


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


def decode_points(data: bytes | memoryview, names: dict[int, str], source: Path | str | None = None) -> EventColumns:
    """The whole 32-byte records of a points file as ``s`` events (see ``docs/store-format.md``).

    A torn last record is not read, nor a damaged one (:func:`valid_points`: a failed check, zero
    fill); a file whose records do not line up is read from where they do (:func:`realign`).
    Records whose name id ``names`` does not define are skipped: read in the documented order (the
    points first, then the metrics file; see :func:`read_process`) that only happens when the ``n``
    line was lost (a write that failed half-way, or damage, and its copy too).
    """
    name_list, values, steps, times = decode_records(data, names, source)
    return EventColumns(["s"] * len(name_list), name_list, values, steps, times)


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
    except OSError as exc:  # a folder where a file should be, no permission: that file is unreadable
        report_damage(path, "an unreadable file", f" ({exc.strerror or exc})")
        return b""


def names_path(events_path: Path) -> Path:
    """The names file (``<proc>.names.jsonl``, format 2) that goes with a metrics or points file."""
    return _sibling(events_path, layout.NAMES_SUFFIX)


def _sibling(events_path: Path, suffix: str) -> Path:
    for known in (layout.METRICS_SUFFIX, layout.POINTS_SUFFIX, layout.META_SUFFIX, layout.NAMES_SUFFIX):
        if events_path.name.endswith(known):
            return events_path.with_name(events_path.name[: -len(known)] + suffix)
    raise ValueError(f"{events_path} is not an events file")


def spare_names(events_path: Path) -> dict[int, str]:
    """The second copy of a process's name definitions, for when its metrics file's ``n`` lines were
    damaged: the ``n`` events of its meta file (format 3), or its names file (format 2)."""
    names: dict[int, str] = {}
    for path in (_sibling(events_path, layout.NAMES_SUFFIX), _sibling(events_path, layout.META_SUFFIX)):
        data = _read(path)
        if data:
            names.update(point_names(parse_columns(data, path)))
    return names


def points_path(metrics_path: Path) -> Path:
    """The points file that goes with a ``<proc>.metrics.jsonl`` file."""
    return metrics_path.with_name(metrics_path.name[: -len(layout.METRICS_SUFFIX)] + layout.POINTS_SUFFIX)


def metric_only(columns: EventColumns) -> EventColumns:
    """The metric events of ``columns``: the ``n`` lines and kinds this version does not know dropped."""
    if set(columns.kinds) <= METRIC_KINDS - {"n"}:
        return columns
    return columns.take([i for i, k in enumerate(columns.kinds) if k in METRIC_KINDS and k != "n"])


def read_process(metrics_path: Path) -> EventColumns:
    """Every metric event one process wrote (its metrics file and its points file), in order.

    The points file is read first: every point in it was written after the ``n`` line
    defining its name, so the metrics file read afterwards defines all of them.
    """
    ppath = points_path(metrics_path)
    points = _read(ppath)
    columns = parse_columns(_read(metrics_path), metrics_path)
    names = point_names(columns) if "n" in columns.kinds else {}
    columns = metric_only(columns)
    if not points:
        return columns
    spare = spare_names(metrics_path)  # what damage to the metrics file's "n" lines lost
    if spare.keys() - names.keys():
        names = {**spare, **names}
    return merge_by_time([columns, decode_points(points, names, ppath)])


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
_META_KINDS = frozenset({"status", "tag", "untag", "prop", "name", "description", "metric_description"})


def _meta_ok(kind: Any, key: Any, value: Any) -> bool:
    """Whether a meta event has the types its kind needs; other kinds need a str kind and a key
    usable as a dict key (str, int or null), else they are ignored."""
    if kind in ("tag", "prop", "metric_description"):
        return type(key) is str and bool(key) and type(value) is str
    if kind == "status":
        return type(key) is str and bool(key)
    if kind == "untag":
        return type(key) is str
    if kind in ("name", "description"):
        return value is None or type(value) is str
    return type(kind) is str and (key is None or type(key) in (str, int))


def record_problem(data: Any) -> str | None:
    """What is wrong with a parsed run record, or None: an object whose known fields have their types."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    created = data.get("created")
    if created is not None and (type(created) not in (int, float)):
        return f"'created' is {created!r}, not unix seconds"
    for key in ("parent_id", "run_type", "run_id", "experiment"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"{key!r} is {data[key]!r}, not a string"
    return None


class RunReader:
    """Read-only view of one run folder."""

    def __init__(self, run_dir: Path, *, contained: bool = False) -> None:
        self.run_dir = run_dir
        self.files_dir = run_dir / layout.FILES_DIR
        # contained (the viewer): a file is served only from inside the store's real folders; a run
        # folder or files folder that is itself a symlink leads outside the store and serves nothing.
        self.contained = contained

    def exists(self) -> bool:
        return (self.run_dir / layout.RUN_RECORD).is_file()

    def record(self) -> dict[str, Any]:
        """The run record (``run.json``); :class:`DamagedRecordError` saying why when it cannot be read."""
        path = self.run_dir / layout.RUN_RECORD
        try:
            data = layout.read_json(path)
        except FileNotFoundError:
            raise
        except PermissionError as exc:
            raise DamagedRecordError(
                f"run.json of run {self.run_dir.name} at {path} cannot be read ({exc.strerror}); ask the owner of "
                f"the store to make it readable to you (e.g. chmod -R g+rX on the store for a shared group)",
                path=str(path),
                run_id=self.run_dir.name,
            ) from exc
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            raise DamagedRecordError(
                f"run.json of run {self.run_dir.name} at {path} is damaged ({why}); the run's metrics, logs and "
                f"files are still read",
                path=str(path),
                run_id=self.run_dir.name,
            ) from exc
        problem = record_problem(data)
        if problem:
            raise DamagedRecordError(
                f"run.json of run {self.run_dir.name} at {path} is damaged ({problem}); the run's metrics, logs "
                f"and files are still read",
                path=str(path),
                run_id=self.run_dir.name,
            )
        record: dict[str, Any] = data
        return record

    def record_or_damage(self) -> tuple[dict[str, Any], str | None]:
        """The run record, or (when it cannot be read) an empty one and the reason, reported once."""
        try:
            return self.record(), None
        except DamagedRecordError as exc:
            report_damage(exc.path, "the run record", message=str(exc))
            return {}, str(exc)

    def _event_files(self, suffix: str) -> list[Path]:
        events_dir = self.run_dir / layout.EVENTS_DIR
        try:
            with os.scandir(events_dir) as entries:
                names = [e.name for e in entries if e.name.endswith(suffix) and e.is_file()]
        except FileNotFoundError:
            return []
        except OSError as exc:  # events/ is a file, or unreadable
            report_damage(events_dir, "the events folder", f" ({exc.strerror or exc})")
            return []
        return [events_dir / n for n in sorted(names)]

    def metric_columns(self) -> EventColumns:
        """Every metric event as columns, in logged order (the fast way to read many points)."""
        return read_columns(self._event_files(layout.METRICS_SUFFIX))

    def metric_events(self) -> list[list[Any]]:
        """Every metric event ``[kind, name, value, step, time]``, in logged order."""
        return self.metric_columns().rows()

    def meta_events(self) -> list[list[Any]]:
        return merge_by_time([parse_columns(_read(p), p) for p in self._event_files(layout.META_SUFFIX)]).rows()

    def state(self) -> RunState:
        state = RunState()
        wrong = 0
        for kind, key, value, _step, ts in (e[:5] for e in self.meta_events()):
            if kind == "n":
                continue  # a copy of a metric name's definition (see spare_names), not a meta event
            if not _meta_ok(kind, key, value):
                wrong += kind in _META_KINDS  # a kind this version does not know is ignored, not damage
                continue
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
            elif key is None:
                state.extra[kind] = value
            else:
                known = state.extra.get(kind)
                state.extra[kind] = {**(known if isinstance(known, dict) else {}), key: value}
        if wrong:
            report_damage(self.run_dir / layout.EVENTS_DIR, f"{wrong} meta event(s) of the wrong type", " (status, tag or property)")
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

    def _real_files_dir(self) -> Path:
        """The files folder as it must resolve: below the store's real folder, through no symlink.

        The store folder itself may be a link (``~/runlog-store`` -> ``/data/store``); nothing
        below it (``experiments/<exp>/runs/<id>/files``) may be, in contained mode.
        """
        if not self.contained:
            return self.files_dir.resolve()
        store = self.run_dir.parent.parent.parent.parent  # <store>/experiments/<exp>/runs/<id>
        expected = store.resolve() / self.files_dir.relative_to(store)
        if self.files_dir.resolve() != expected:
            raise ValueError(
                f"the files of run {self.run_dir.name} are a link out of the store ({self.files_dir} -> "
                f"{self.files_dir.resolve()}); the viewer serves only files inside the store"
            )
        return expected

    def file_path(self, name: str) -> Path:
        """The stored path of a run file, refusing names outside the run (and, ``contained``, outside the store)."""
        path = self.files_dir / layout.check_file_name(name)
        resolved = path.resolve()
        if not resolved.is_relative_to(self._real_files_dir()):
            raise ValueError(f"{name!r} points outside the run's files; use a name from get_file_names()")
        return path

    def iter_log_names(self) -> Iterator[str]:
        return (n for n in self.file_names() if n.startswith(layout.LOGS_PREFIX))
