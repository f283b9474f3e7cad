"""The viewer's file-tail cache: each run's events files parsed incrementally, kept in memory.

Reads never lock and never write: events files are append-only, so each one is
parsed **incrementally** — a per-file cursor remembers how far it was parsed
(up to the last whole line), and a later request parses only what was appended
since. A file whose (inode, size, mtime) did not change is not touched at all,
which is what makes the runs table of a large store answer from memory. A file
that shrank or was replaced is parsed again from the start.
"""

from __future__ import annotations

import logging
import os
import stat
import struct
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .._model.metrics import file_rank, rank_of_events
from .._store import EventColumns, RunReader, RunState, layout, parse_columns, point_names, points_path, read_process
from .._store.layout import NO_STEP, POINT_SIZE, T_INT
from .._store.reader import good_records, metric_only, point_columns, realign, spare_names, valid_points

__all__ = ["EventsFile", "RunCache", "Series", "safe_value", "summarize"]

_log = logging.getLogger("runlog.ui")

PARSE_CHUNK = 8 << 20
_INT_TYPE = struct.pack("<I", T_INT)
_INF = float("inf")
_NAN = float("nan")


def safe_value(value: Any) -> Any:
    """A value that ``json.dumps(allow_nan=False)`` accepts: NaN and infinities become strings."""
    if type(value) is float and (value != value or value in (_INF, -_INF)):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [safe_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): safe_value(v) for k, v in value.items()}
    return value


def _is_number(value: Any) -> bool:
    t = type(value)
    return t is float or t is int


class Series:
    """Everything one events file says about one metric name."""

    __slots__ = ("columns", "count", "images", "kind", "last", "last_time", "max", "min", "monotonic", "rows", "ts", "xs", "ys")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.count = 0
        self.xs = array("d")  # step (or index when no step was given)
        self.ys = array("d")  # numeric value; NaN for non-numbers and non-finite values (a gap)
        self.ts = array("d")  # wall time
        self.monotonic = True
        self.last: Any = None
        self.last_time = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.rows: list[dict[str, Any]] = []
        self.columns: dict[str, None] = {}
        self.images: list[tuple[str, float, Any]] = []  # file, time, step (None: logged without one)

    def point(self, value: Any, step: Any, ts: float) -> None:
        x = float(step) if type(step) is int else float(self.count)
        if self.monotonic and self.count and x < self.xs[-1]:
            self.monotonic = False
        self.count += 1
        self.last = value
        self.last_time = ts
        if _is_number(value):
            y = float(value)
            if y == y:
                if self.min is None or y < self.min:
                    self.min = y
                if self.max is None or y > self.max:
                    self.max = y
            if y in (_INF, -_INF):
                y = float("nan")
        else:
            y = float("nan")
        self.xs.append(x)
        self.ys.append(y)
        self.ts.append(ts)

    def scalars(self, values: list[Any], steps: list[Any], times: list[Any]) -> None:
        """Append many ``run.log`` values at once (the bulk path of a cold parse)."""
        if not values:
            return
        value_types = set(map(type, values))
        step_types = set(map(type, steps))
        if not value_types <= {float, int} or not (step_types <= {int} or step_types == {type(None)}):
            for v, st, t in zip(values, steps, times):
                self.point(v, st, t)
            return
        self.bulk(None if step_types == {type(None)} else steps, array("d", values), array("d", times), values[-1])

    def bulk(self, steps: list[int] | None, ys: array[float], ts: array[float], last: Any) -> None:
        """Append numbers in bulk: ``steps`` (None: none given, the index is the x), values, times.

        Same result as :meth:`point` per value: NaN and infinities are gaps in the chart, and
        infinities count for min/max while NaN does not.
        """
        n = len(ys)
        if not n:
            return
        total = sum(ys)
        if total - total == 0.0:  # every value finite (the usual case)
            lo: float | None = min(ys)
            hi: float | None = max(ys)
        else:
            comparable = [y for y in ys if y == y]
            lo, hi = (min(comparable), max(comparable)) if comparable else (None, None)
            ys = array("d", [y if y - y == 0.0 else _NAN for y in ys])
        xs = array("d", range(self.count, self.count + n) if steps is None else steps)
        if self.monotonic:
            previous = self.xs[-1] if self.count else -_INF
            self.monotonic = previous <= xs[0] and (steps is None or steps == sorted(steps))
        if lo is not None and hi is not None:
            self.min = lo if self.min is None else min(self.min, lo)
            self.max = hi if self.max is None else max(self.max, hi)
        self.count += n
        self.last = last
        self.last_time = ts[-1]
        self.xs.extend(xs)
        self.ys.extend(ys)
        self.ts.extend(ts)

    def add_rows(self, rows: list[dict[str, Any]], ts: float) -> None:
        for row in rows:
            for column in row:
                if column not in self.columns:
                    self.columns[column] = None
        self.rows.extend(rows)
        self.count += len(rows)
        self.last = rows[-1] if rows else self.last
        self.last_time = ts


def positions(keys: list[Any]) -> dict[Any, list[int]]:
    """The indexes of each key in ``keys``, keys in order of first appearance."""
    found: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        group = found.get(key)
        if group is None:
            found[key] = [i]
        else:
            group.append(i)
    return found


class EventsFile:
    """The metric events of one writer process, parsed up to where they were whole.

    Two files: ``<proc>.metrics.jsonl`` up to ``offset`` (the end of its last whole line) and
    ``<proc>.points.bin`` up to ``points_offset`` (the end of its last whole 32-byte record
    whose name id was defined). The points file is read before the metrics file, so every
    id in the points read is defined by then (see docs/store-format.md).

    The two files fill separate series (``series`` and ``points``). A name found in both
    (a metric that got strings and numbers from one process: rare) needs them merged by
    time, so from then on the process is read whole, merged, whenever it changed (``exact``).
    """

    __slots__ = ("exact", "ids", "key", "offset", "points", "points_ino", "points_offset", "series")

    def __init__(self) -> None:
        self.key: tuple[int, ...] = ()
        self.offset = 0
        self.points_offset = 0
        self.points_ino: int | None = None
        self.ids: dict[int, str] = {}
        self.series: dict[str, Series] = {}
        self.points: dict[str, Series] = {}
        self.exact = False

    def all_series(self) -> Iterator[tuple[str, Series]]:
        yield from self.series.items()
        yield from self.points.items()

    def refresh(self, path: Path) -> None:
        points = points_path(path)
        try:
            pst: os.stat_result | None = points.stat()
        except FileNotFoundError:
            pst = None
        try:
            st = path.stat()
        except FileNotFoundError:
            return
        if not stat.S_ISREG(st.st_mode):  # a folder (or a device) named like an events file: not events
            return
        if pst is not None and not stat.S_ISREG(pst.st_mode):
            pst = None
        key = (st.st_ino, st.st_size, st.st_mtime_ns, *((pst.st_ino, pst.st_size, pst.st_mtime_ns) if pst else ()))
        if key == self.key:
            return
        old = self.key
        replaced = not old or st.st_ino != old[0] or st.st_size < self.offset
        if pst is None:
            replaced = replaced or self.points_offset > 0  # the points file went away
        elif (self.points_ino is not None and pst.st_ino != self.points_ino) or pst.st_size < self.points_offset:
            replaced = True  # replaced, or shrank
        self.points_ino = pst.st_ino if pst is not None else None
        if replaced and old:
            self.offset, self.points_offset, self.ids, self.series, self.points = 0, 0, {}, {}, {}
        self.key = key
        if self.exact:
            self._read_whole(path)
            return
        data = b""
        # A first read of a file that is not whole records: its start may be lost (misaligned records).
        ragged = pst is not None and self.points_offset == 0 and pst.st_size % POINT_SIZE != 0
        if pst is not None and pst.st_size - self.points_offset >= POINT_SIZE:
            try:
                with open(points, "rb") as fh:
                    fh.seek(self.points_offset)
                    data = fh.read(pst.st_size - self.points_offset if ragged else (pst.st_size - self.points_offset) // POINT_SIZE * POINT_SIZE)
            except OSError:
                data = b""
        try:
            with open(path, "rb") as fh:
                fh.seek(self.offset)
                self._read(fh, path)
        except FileNotFoundError:
            return
        misaligned = ragged and len(data) >= 2 * POINT_SIZE and realign(data, {**spare_names(points), **self.ids}, points) is not data
        misaligned = misaligned or (len(data) >= POINT_SIZE and self._feed_points(data[: len(data) // POINT_SIZE * POINT_SIZE], points))
        if misaligned or (self.points and not self.series.keys().isdisjoint(self.points)):
            self.exact = True
            self._read_whole(path)

    def _read_whole(self, path: Path) -> None:
        self.series, self.points, self.ids = {}, {}, {}
        self._feed(read_process(path))

    def _read(self, fh: IO[bytes], path: Path) -> None:
        pending = b""
        while True:
            chunk = fh.read(PARSE_CHUNK)
            if not chunk:
                return
            data = pending + chunk
            end = data.rfind(b"\n")
            if end < 0:
                pending = data
                continue
            self._feed(parse_columns(data[: end + 1], path))
            self.offset += end + 1
            pending = data[end + 1 :]

    def _feed_points(self, data: bytes, path: Path) -> bool:
        """Append whole points records: grouped by name id, each group in bulk. True (nothing fed)
        when the records do not line up (bytes lost at the file's start): read it whole then."""
        self.points_offset += len(data) // POINT_SIZE * POINT_SIZE
        whole = memoryview(data)
        if good_records(whole) is not None or not set(whole.cast("I")[0::8].tolist()) <= self.ids.keys():
            self.ids.update({nid: name for nid, name in spare_names(path).items() if nid not in self.ids})
            if realign(whole, self.ids, path) is not whole:
                return True
        view = memoryview(valid_points(data, path))  # damaged records (zero fill, misaligned) dropped
        if not len(view):
            return False
        u32 = view.cast("I")
        ids = u32[0::8].tolist()
        n = len(ids)
        distinct = set(ids)
        unknown = distinct.difference(self.ids)
        period = len(distinct)
        groups: list[tuple[int, Any]]  # (name id, a slice or a list of indexes)
        if unknown:  # a name whose "n" line was lost (a damaged metrics file): its points are skipped
            _log.debug("skipped the points of undefined name id(s) %s", sorted(unknown))
            groups = [(nid, index) for nid, index in positions(ids).items() if nid not in unknown]
        elif period == 1:
            groups = [(ids[0], slice(None))]
        elif len(set(ids[:period])) == period and ids[period:] == ids[:-period]:
            # The usual training loop: the same metrics in the same order at every step.
            groups = [(ids[k], slice(k, None, period)) for k in range(period)]
        else:
            groups = list(positions(ids).items())
        f64, i64 = view.cast("d"), view.cast("q")
        types = u32[1::8].tobytes()
        steps: list[Any] = i64[2::4].tolist()
        if all(type(g) is slice for _, g in groups) and (types == bytes(len(types)) or types == _INT_TYPE * n):
            # Only floats or only ints, in strided groups: columns go from bytes to arrays in C.
            floats = types == bytes(len(types))
            ints = None if floats else i64[1::4].tolist()
            y_view, t_view = f64[1::4], f64[3::4]
            mixed = []
            for nid, part in groups:
                group_steps = steps[part]
                none = group_steps.count(NO_STEP)
                if 0 < none < len(group_steps):
                    mixed.append((nid, part))
                    continue
                ts = array("d")
                ts.frombytes(t_view[part].tobytes())
                if floats:
                    ys = array("d")
                    ys.frombytes(y_view[part].tobytes())
                    last: Any = ys[-1]
                else:
                    assert ints is not None
                    group_ints = ints[part]
                    ys, last = array("d", group_ints), group_ints[-1]
                self._series_for(self.ids[nid]).bulk(None if none else group_steps, ys, ts, last)
            groups = mixed
            if not groups:
                return False
        # The general path: mixed types or steps, through Python lists.
        _, values, all_steps, times = point_columns(view)
        for nid, part in groups:
            s = self._series_for(self.ids[nid])
            if type(part) is slice:
                s.scalars(values[part], all_steps[part], times[part])
            else:
                s.scalars([values[i] for i in part], [all_steps[i] for i in part], [times[i] for i in part])
        return False

    def _series_for(self, name: str) -> Series:
        s = self.points.get(name)
        if s is None:
            s = self.points[name] = Series("s")
        return s

    def _feed(self, columns: EventColumns) -> None:
        if "n" in columns.kinds:
            self.ids.update(point_names(columns))
        columns = metric_only(columns)  # the "n" lines and kinds this version does not know dropped
        kinds, names = columns.kinds, columns.names
        if not kinds:
            return
        if kinds.count("s") == len(kinds):
            # Only run.log values (the usual case): group by name, then append each group in bulk.
            groups = positions(names)
            values, steps, times = columns.values, columns.steps, columns.times
            for name, index in groups.items():
                s = self.series.get(name)
                if s is None:
                    s = self.series[name] = Series("s")
                if len(groups) == 1:
                    s.scalars(values, steps, times)
                else:
                    s.scalars([values[i] for i in index], [steps[i] for i in index], [times[i] for i in index])
            return
        self._feed_events(zip(kinds, names, columns.values, columns.steps, columns.times))

    def _feed_events(self, events: Iterator[tuple[Any, ...]]) -> None:
        series = self.series
        for event in events:
            try:
                kind, name, value, step, ts = event[:5]
                s = series.get(name)
                if s is None:
                    s = series[name] = Series(kind)
                if kind == "s":
                    s.point(value, step, ts)
                elif kind == "l":
                    if s.kind == "s":
                        s.kind = "l"
                    for v in value:
                        s.point(v, None, ts)
                elif kind == "r":
                    s.add_rows([value], ts)
                elif kind == "t":
                    n = max((len(v) for v in value.values()), default=0)
                    s.add_rows([{c: v[i] if i < len(v) else None for c, v in value.items()} for i in range(n)], ts)
                elif kind == "i":
                    s.images.append((value, ts, step))
                    s.count += 1
                    s.last, s.last_time = value, ts
            except (TypeError, ValueError, AttributeError, KeyError):
                _log.debug("skipped an unreadable metric event %r", event)


@dataclass
class RunCache:
    experiment: str
    run_id: str
    run_dir: Path
    record: dict[str, Any] | None = None
    meta_key: tuple[Any, ...] = ()
    state: RunState = field(default_factory=RunState)
    files: dict[str, EventsFile] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    summary_key: tuple[Any, ...] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    damaged: str | None = None  # why run.json cannot be read, when it cannot

    def summaries(self) -> dict[str, Any]:
        """last/min/max of each scalar/list metric, recomputed only when an events file changed."""
        with self.lock:  # another request may be parsing this run's new lines right now
            key = tuple((n, f.key) for n, f in self.files.items())
            if key != self.summary_key:
                self.summary = {
                    name: summarize(parts) for name, parts in self.series_by_name().items() if parts[0].kind in ("s", "l")
                }
                self.summary_key = key
            return self.summary

    @property
    def reader(self) -> RunReader:
        return RunReader(self.run_dir, contained=True)  # the viewer never serves a file from outside the store

    def _event_names(self) -> list[str]:
        try:
            return sorted(os.listdir(self.run_dir / layout.EVENTS_DIR))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def refresh(self) -> None:
        """Bring record, state and metrics up to date with the files (only what changed is read)."""
        with self.lock:
            if self.record is None or self.damaged:
                # A damaged run.json (reported once) leaves the run listed, with its metrics and logs.
                self.record, self.damaged = self.reader.record_or_damage()
            names = self._event_names()
            events_dir = self.run_dir / layout.EVENTS_DIR
            meta_key = []
            for n in names:
                if n.endswith(layout.META_SUFFIX):
                    try:
                        st = os.stat(events_dir / n)
                    except FileNotFoundError:
                        continue
                    meta_key.append((n, st.st_size, st.st_mtime_ns))
                elif n.endswith(layout.METRICS_SUFFIX):
                    self.files.setdefault(n, EventsFile()).refresh(events_dir / n)
            if tuple(meta_key) != self.meta_key:
                self.state = self.reader.state()
                self.meta_key = tuple(meta_key)

    def rank_of_file(self) -> dict[str, int | None]:
        """The rank of each events file (None: a process that recorded no rank), from the run's process records."""
        rank_of = rank_of_events(self.state.extra.get("process"))
        return {f: file_rank(rank_of, f) for f in self.files}

    def ranked_series(self, name: str) -> list[tuple[int | None, Series]]:
        """Each process's series of ``name`` with the process's rank (call with the lock held)."""
        ranks = self.rank_of_file()
        found = []
        for f, events in self.files.items():
            for n, s in events.all_series():
                if n == name:
                    found.append((ranks[f], s))
        return found

    def ranks_by_name(self) -> dict[str, list[int]]:
        """The ranks that logged each name (empty for a name only processes without a rank logged)."""
        ranks = self.rank_of_file()
        found: dict[str, set[int]] = {}
        for f, events in self.files.items():
            rank = ranks[f]
            for n, _ in events.all_series():
                group = found.setdefault(n, set())
                if rank is not None:
                    group.add(rank)
        return {n: sorted(r) for n, r in found.items()}

    def series_by_name(self) -> dict[str, list[Series]]:
        found: dict[str, list[Series]] = {}
        for f in self.files.values():
            for name, s in f.all_series():
                found.setdefault(name, []).append(s)
        return found


def summarize(parts: list[Series]) -> dict[str, Any]:
    last = max(parts, key=lambda s: s.last_time)
    mins = [s.min for s in parts if s.min is not None]
    maxs = [s.max for s in parts if s.max is not None]
    kinds = {s.kind for s in parts}
    kind = "l" if "l" in kinds else last.kind
    return {
        "kind": kind,
        "count": sum(s.count for s in parts),
        "last": safe_value(last.last),
        "min": safe_value(min(mins)) if mins else None,
        "max": safe_value(max(maxs)) if maxs else None,
    }
