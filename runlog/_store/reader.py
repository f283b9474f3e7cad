"""Reading a run back from the store, without the writer's process.

A reader may run while writers append: each events file is read up to its last
newline, so a torn last line (a writer killed mid-write, or still writing) is
skipped, never an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import DamagedRecordError
from . import layout
from .damage import _reported, report_damage  # noqa: F401  (_reported: tests clear it)
from .events import (
    EventColumns,
    merge_by_time,
    metric_only,
    parse_columns,
    parse_lines,
    point_names,
    valid_event,
)
from .records import decode_records, good_records, point_columns, realign, valid_points

__all__ = [
    "EventColumns",
    "RunReader",
    "RunState",
    "decode_points",
    "good_records",
    "merge_by_time",
    "metric_only",
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
