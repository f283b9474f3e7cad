"""The viewer's read side: what the JSON API answers, computed from the store.

No web framework here: :class:`StoreQuery` turns a store folder into plain
dicts and lists, so it is tested and benchmarked on its own.

Reads never lock and never write: events files are append-only, so each one is
parsed **incrementally** — a per-file cursor remembers how far it was parsed
(up to the last whole line), and a later request parses only what was appended
since. A file whose (inode, size, mtime) did not change is not touched at all,
which is what makes the runs table of a large store answer from memory. A file
that shrank or was replaced is parsed again from the start.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import re
import stat
import struct
import threading
import time
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .._errors import RunFileNotFound, RunNotFound
from .._model.metrics import SYSTEM_PREFIX
from .._store import EventColumns, RunReader, RunState, layout, parse_columns, point_names, points_path, read_process
from .._store.layout import NO_STEP, POINT_SIZE, T_INT
from .._store.reader import good_records, metric_only, point_columns, realign, spare_names, valid_points
from .downsample import minmax_downsample

__all__ = ["DEFAULT_POINTS", "MetricNotFound", "StoreQuery"]

_log = logging.getLogger("runlog.ui")

DEFAULT_POINTS = 2000
MAX_POINTS = 100_000
LOG_CHUNK = 256 * 1024
PARSE_CHUNK = 8 << 20
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
_INT_TYPE = struct.pack("<I", T_INT)
_RUN_ID = re.compile(r"^[\w\-.]{1,255}$")
_INF = float("inf")
_NAN = float("nan")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}


class _Chunks:
    """A write-only, unseekable file that keeps what was written until :meth:`take` (for streaming a zip)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts, self.size = b"".join(self.parts), [], 0
        return data


class MetricNotFound(LookupError):
    """A run has no metric of the requested name (or not of a chartable kind)."""


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


class _Series:
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


def _positions(keys: list[Any]) -> dict[Any, list[int]]:
    """The indexes of each key in ``keys``, keys in order of first appearance."""
    found: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        group = found.get(key)
        if group is None:
            found[key] = [i]
        else:
            group.append(i)
    return found


class _EventsFile:
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
        self.series: dict[str, _Series] = {}
        self.points: dict[str, _Series] = {}
        self.exact = False

    def all_series(self) -> Iterator[tuple[str, _Series]]:
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
            groups = [(nid, index) for nid, index in _positions(ids).items() if nid not in unknown]
        elif period == 1:
            groups = [(ids[0], slice(None))]
        elif len(set(ids[:period])) == period and ids[period:] == ids[:-period]:
            # The usual training loop: the same metrics in the same order at every step.
            groups = [(ids[k], slice(k, None, period)) for k in range(period)]
        else:
            groups = list(_positions(ids).items())
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

    def _series_for(self, name: str) -> _Series:
        s = self.points.get(name)
        if s is None:
            s = self.points[name] = _Series("s")
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
            groups = _positions(names)
            values, steps, times = columns.values, columns.steps, columns.times
            for name, index in groups.items():
                s = self.series.get(name)
                if s is None:
                    s = self.series[name] = _Series("s")
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
                    s = series[name] = _Series(kind)
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
class _RunCache:
    experiment: str
    run_id: str
    run_dir: Path
    record: dict[str, Any] | None = None
    meta_key: tuple[Any, ...] = ()
    state: RunState = field(default_factory=RunState)
    files: dict[str, _EventsFile] = field(default_factory=dict)
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
                    name: _summary(parts) for name, parts in self.series_by_name().items() if parts[0].kind in ("s", "l")
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
                    self.files.setdefault(n, _EventsFile()).refresh(events_dir / n)
            if tuple(meta_key) != self.meta_key:
                self.state = self.reader.state()
                self.meta_key = tuple(meta_key)

    def series_by_name(self) -> dict[str, list[_Series]]:
        found: dict[str, list[_Series]] = {}
        for f in self.files.values():
            for name, s in f.all_series():
                found.setdefault(name, []).append(s)
        return found


def _summary(parts: list[_Series]) -> dict[str, Any]:
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


class StoreQuery:
    """Answers the viewer's questions about a store, from an incremental in-memory cache."""

    def __init__(self, store: str | os.PathLike[str]) -> None:
        self.store = Path(store).expanduser().absolute()
        self._runs: dict[str, _RunCache] = {}
        self._lock = threading.Lock()
        self._latest: Any = None  # runlog._store.latest.LatestValues of the searches, made on first use

    # -- finding runs ----------------------------------------------------------------

    def _scan(self) -> list[_RunCache]:
        root = self.store / layout.EXPERIMENTS_DIR
        found = []
        try:
            experiments = sorted(os.listdir(root))
        except FileNotFoundError:
            return []
        for exp in experiments:
            runs_dir = root / exp / layout.RUNS_DIR
            try:
                run_ids = os.listdir(runs_dir)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for run_id in run_ids:
                cache = self._runs.get(run_id)
                if cache is None or cache.experiment != exp:
                    run_dir = runs_dir / run_id
                    if not (run_dir / layout.RUN_RECORD).is_file():
                        continue  # being created: its record is not written yet
                    with self._lock:
                        cache = self._runs[run_id] = _RunCache(exp, run_id, run_dir)
                found.append(cache)
        return found

    def _run(self, run_id: str) -> _RunCache:
        cache = self._runs.get(run_id)
        if cache is None and isinstance(run_id, str) and _RUN_ID.match(run_id) and run_id not in (".", ".."):
            self._scan()
            cache = self._runs.get(run_id)
        if cache is None or not (cache.run_dir / layout.RUN_RECORD).is_file():
            raise RunNotFound(f"no run {run_id!r} in the store {self.store}; list runs with GET /api/runs", run_id=str(run_id))
        cache.refresh()
        return cache

    def experiments(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for cache in self._scan():
            counts[cache.experiment] = counts.get(cache.experiment, 0) + 1
        root = self.store / layout.EXPERIMENTS_DIR
        try:
            names = sorted(p.name for p in root.iterdir() if (p / layout.EXPERIMENT_RECORD).is_file())
        except FileNotFoundError:
            names = []
        return [{"name": n, "runs": counts.get(n, 0)} for n in names]

    # -- the runs table ------------------------------------------------------------------

    def _run_row(self, cache: _RunCache, now: float) -> dict[str, Any]:
        state, record = cache.state, cache.record or {}
        start, end = state.start_time, state.end_time
        duration = None if start is None else (end if end is not None else now) - start
        metrics = dict(cache.summaries())
        return {
            "id": cache.run_id,
            "experiment": cache.experiment,
            "display_name": state.display_name or cache.run_id,
            "status": state.status,
            "parent_id": record.get("parent_id"),
            "run_type": record.get("run_type"),
            "created": record.get("created"),
            "start_time": start,
            "end_time": end,
            "duration": duration,
            "tags": dict(state.tags),
            "params": dict(state.properties),
            "metrics": metrics,
            "damaged": cache.damaged,
        }

    def runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        search: str | None = None,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """Every run (children too) with status, times, tags and last/min/max of each scalar metric.

        ``filter_string``/``order_by``/``max_results``/``page_token``: MLflow's search syntax, by
        :func:`runlog._store.search.find_runs` (plain words search ids, names and experiments); with them
        the rows come in the search's order, a page at a time with ``next_page_token`` when
        ``max_results`` is given. ``InvalidSearch`` (a ValueError) for a filter that does not parse.
        """
        now = time.time()
        rows = []
        tag_key, _, tag_value = (tag or "").partition("=")
        needle = (search or "").strip().lower()
        searched = bool((filter_string or "").strip() or order_by or max_results is not None or page_token)
        caches = self._scan()
        if searched:
            from .._store.latest import LatestValues
            from .._store.search import find_runs

            if max_results is not None and max_results < 1:
                raise ValueError(f"query parameter 'max_results' must be at least 1; got {max_results}")
            with self._lock:
                self._latest = self._latest or LatestValues()
            found, _ = find_runs(self.store, filter_string or None, order_by or None, latest=self._latest, plain_words=True)
            by_key = {(c.experiment, c.run_id): c for c in caches}
            caches = [by_key[k] for k in ((r.experiment, r.run_id) for r in found) if k in by_key]
        for cache in caches:
            if experiment and cache.experiment != experiment:
                continue
            try:
                cache.refresh()
            except (OSError, ValueError) as exc:
                _log.debug("skipped unreadable run %s: %s", cache.run_dir, exc)
                continue
            state = cache.state
            if status and state.status != status:
                continue
            if tag_key and (tag_key not in state.tags or ("=" in (tag or "") and state.tags[tag_key] != tag_value)):
                continue
            if needle and not any(
                needle in s.lower() for s in (cache.run_id, state.display_name or "", cache.experiment)
            ):
                continue
            rows.append(self._run_row(cache, now))
        token = None
        total = len(rows)
        if not searched:
            rows.sort(key=lambda r: r["created"] or 0.0, reverse=True)
        elif max_results is not None:
            from .._store.search import paginate

            total = len(rows)
            rows, token = paginate(rows, page_token, max_results)
        # System metrics (system/...) are in each row's metrics but get no column of their own.
        names = sorted({m for r in rows for m in r["metrics"] if not m.startswith(SYSTEM_PREFIX)})
        answer: dict[str, Any] = {"runs": rows, "metric_names": names}
        if searched:
            answer["next_page_token"] = token
            answer["total"] = total if max_results is not None else len(rows)
        return answer

    # -- one run -----------------------------------------------------------------------

    def run(self, run_id: str) -> dict[str, Any]:
        """A run's page: record, status, times, tags, properties, metrics, images, files and logs."""
        cache = self._run(run_id)
        row = self._run_row(cache, time.time())
        state = cache.state
        metrics = []
        images: list[dict[str, Any]] = []
        with cache.lock:
            for name, parts in sorted(cache.series_by_name().items()):
                metrics.append(self._describe_metric(name, parts, state, images))
        images.sort(key=lambda i: i["time"])
        files = self.files(run_id)
        record = cache.record or {}
        row.update(
            record={k: safe_value(v) for k, v in record.items()},
            properties=dict(state.properties),
            description=state.description,
            error=safe_value(state.error),
            metrics_list=metrics,
            images=images,
            files=files,
            logs=[f["name"] for f in files if f["name"].startswith(layout.LOGS_PREFIX)],
            live=state.status not in TERMINAL,
            children=self._children(cache),
        )
        return row

    def _children(self, parent: _RunCache) -> list[dict[str, Any]]:
        found = []
        for cache in self._scan():
            if cache.experiment != parent.experiment or cache is parent:
                continue
            try:
                if cache.record is None:
                    cache.refresh()
                if (cache.record or {}).get("parent_id") != parent.run_id:
                    continue
                cache.refresh()
            except (OSError, ValueError):
                continue
            found.append(
                {"id": cache.run_id, "display_name": cache.state.display_name or cache.run_id, "status": cache.state.status, "created": (cache.record or {}).get("created")}
            )
        found.sort(key=lambda c: c["created"] or 0.0)
        return found

    @staticmethod
    def _describe_metric(name: str, parts: list[_Series], state: RunState, images: list[dict[str, Any]]) -> dict[str, Any]:
        kind = parts[0].kind
        entry: dict[str, Any] = {"name": name, "description": state.metric_descriptions.get(name)}
        if kind in ("s", "l"):
            entry.update(_summary(parts))
        elif kind in ("r", "t"):
            columns: dict[str, None] = {}
            for s in parts:
                columns.update(s.columns)
            entry.update(kind="table", count=sum(s.count for s in parts), columns=list(columns))
        elif kind == "i":
            entry.update(kind="image", count=sum(s.count for s in parts))
            images.extend({"name": name, "file": f, "time": t, "step": st} for s in parts for f, t, st in s.images)
        return entry

    def series(
        self,
        run_id: str,
        name: str,
        x: str = "step",
        points: int = DEFAULT_POINTS,
        xmin: float | None = None,
        xmax: float | None = None,
    ) -> dict[str, Any]:
        """A scalar/list metric as ``{x: [...], y: [...]}``, min/max-downsampled to about ``points``.

        ``x``: ``step`` (the step given to ``run.log``, else the index), ``time`` (unix
        seconds) or ``relative`` (seconds since the run started).
        """
        if x not in ("step", "time", "relative"):
            raise ValueError(f"x must be 'step', 'time' or 'relative'; got {x!r}")
        by_time = x != "step"
        points = max(4, min(int(points), MAX_POINTS))
        cache = self._run(run_id)
        with cache.lock:
            parts = cache.series_by_name().get(name)
            if not parts or parts[0].kind not in ("s", "l"):
                raise MetricNotFound(self._no_metric(cache, name, "scalar or list"))
            if len(parts) == 1:
                s = parts[0]
                # Copies (a memcpy): another request may append to the live arrays once the lock is released.
                xs, ys = (s.ts if by_time else s.xs)[:], s.ys[:]
                monotonic = s.monotonic or by_time
            else:  # several processes logged it: merge by wall time
                merged = sorted(
                    ((t, xv, yv) for s in parts for t, xv, yv in zip(s.ts, s.xs, s.ys)), key=lambda p: p[0]
                )
                xs = array("d", (p[0] if by_time else p[1] for p in merged))
                ys = array("d", (p[2] for p in merged))
                monotonic = by_time or all(a <= b for a, b in itertools.pairwise(xs))
        total = len(xs)
        base = 0.0  # x="relative": seconds since the run started (its first Running status, else first point)
        if x == "relative":
            start_time = cache.state.start_time
            base = start_time if start_time is not None else (xs[0] if total else 0.0)
        if xmin is not None or xmax is not None:
            lo = -_INF if xmin is None else xmin + base
            hi = _INF if xmax is None else xmax + base
            if monotonic:
                i, j = bisect.bisect_left(xs, lo), bisect.bisect_right(xs, hi)
                xs, ys = xs[i:j], ys[i:j]
            else:
                keep = [i for i, v in enumerate(xs) if lo <= v <= hi]
                xs, ys = array("d", (xs[i] for i in keep)), array("d", (ys[i] for i in keep))
        out_x, out_y = minmax_downsample(xs, ys, points)
        if base:
            out_x = [v - base for v in out_x]
        return {
            "run_id": run_id,
            "name": name,
            "x_axis": x,
            "total": total,
            "in_range": len(xs),
            "downsampled": len(out_x) < len(xs),
            "x": out_x,
            "y": out_y,
        }

    def table(self, run_id: str, name: str) -> dict[str, Any]:
        """A row/table metric as ``{columns: [...], data: {column: [values]}}``."""
        cache = self._run(run_id)
        with cache.lock:
            parts = cache.series_by_name().get(name)
            if not parts or parts[0].kind not in ("r", "t"):
                raise MetricNotFound(self._no_metric(cache, name, "row or table"))
            columns: dict[str, None] = {}
            for s in parts:
                columns.update(s.columns)
            rows = [r for s in sorted(parts, key=lambda s: s.last_time) for r in s.rows]
        data = {c: [safe_value(r.get(c)) for r in rows] for c in columns}
        return {"run_id": run_id, "name": name, "columns": list(columns), "rows": len(rows), "data": data}

    def _no_metric(self, cache: _RunCache, name: str, what: str) -> str:
        have = sorted(cache.series_by_name())
        return f"run {cache.run_id} has no {what} metric {name!r}; it has: {', '.join(have) or 'no metrics'}"

    # -- files and logs ------------------------------------------------------------------

    def files(self, run_id: str) -> list[dict[str, Any]]:
        cache = self._runs.get(run_id) or self._run(run_id)
        reader = cache.reader
        out = []
        for name in reader.file_names():
            try:
                st = reader.file_path(name).stat()
            except (OSError, ValueError):
                continue  # a dangling or outward symlink is not a file of the run
            suffix = os.path.splitext(name)[1].lower()
            out.append({"name": name, "size": st.st_size, "mtime": st.st_mtime, "image": suffix in IMAGE_TYPES})
        return out

    def file_path(self, run_id: str, name: str) -> Path:
        """The path of run file ``name``; ValueError for a name outside the run, RunFileNotFound if absent."""
        cache = self._runs.get(run_id) or self._run(run_id)
        path = cache.reader.file_path(name)  # raises ValueError for '..', absolute paths, outward symlinks
        if not path.is_file():
            raise RunFileNotFound(f"run {run_id} has no file {name!r}; list them with GET /api/runs/{run_id}/files", run_id=run_id, name=name)
        return path

    def log(
        self, run_id: str, name: str, offset: int | None = None, max_bytes: int = LOG_CHUNK, before: int | None = None
    ) -> dict[str, Any]:
        """Whole lines of a log file from byte ``offset`` (default: its last ``max_bytes``).

        Poll with ``offset=next_offset`` to follow it like ``tail -f``; a partial last
        line is left for the next call. ``reset`` is true when the file shrank.
        ``before=N``: the whole lines that end at byte ``N`` (the ``offset`` of what is
        shown), to page back towards the start.
        """
        path = self.file_path(run_id, name)
        max_bytes = max(1024, min(int(max_bytes), 4 << 20))
        if before is not None:
            if offset is not None:
                raise ValueError("pass offset= (read forward) or before= (read back), not both")
            return self._log_before(run_id, name, path, before, max_bytes)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            reset = False
            if offset is None:
                start = max(0, size - max_bytes)
            elif offset > size or offset < 0:
                start, reset = 0, offset > size
            else:
                start = offset
            fh.seek(start)
            data = fh.read(min(max_bytes, size - start))
        if offset is None and start > 0:
            cut = data.find(b"\n")
            start, data = (start + cut + 1, data[cut + 1 :]) if cut >= 0 else (start, data)
        end = data.rfind(b"\n")
        if end >= 0:
            data = data[: end + 1]
        elif len(data) < max_bytes:
            data = b""  # only a partial line so far: wait for its end
        return {
            "run_id": run_id,
            "name": name,
            "offset": start,
            "next_offset": start + len(data),
            "size": size,
            "reset": reset,
            "text": data.decode("utf-8", "replace"),
        }

    def _log_before(self, run_id: str, name: str, path: Path, before: int, max_bytes: int) -> dict[str, Any]:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            end = max(0, min(before, size))
            start = max(0, end - max_bytes)
            fh.seek(start)
            data = fh.read(end - start)
        if start > 0:
            cut = data.find(b"\n")
            if cut >= 0:
                start, data = start + cut + 1, data[cut + 1 :]
        return {
            "run_id": run_id,
            "name": name,
            "offset": start,
            "next_offset": end,
            "size": size,
            "reset": False,
            "text": data.decode("utf-8", "replace"),
        }

    def zip_to(self, run_id: str, target: IO[bytes]) -> list[str]:
        """Write every file of the run (and nothing else) into a zip on ``target``; return the names."""
        names: list[str] = []
        for chunk in self.iter_zip(run_id, names):
            target.write(chunk)
        return names

    def iter_zip(self, run_id: str, names: list[str] | None = None, chunk: int = 1 << 20) -> Iterator[bytes]:
        """A zip of every file of the run (and nothing else), made while it is sent: about ``chunk``
        bytes at a time, with no copy in memory or on disk. A missing run raises here, before the
        first byte; ``names`` (if given) gets the names zipped."""
        reader = (self._runs.get(run_id) or self._run(run_id)).reader
        if not reader.exists():
            raise RunNotFound(f"no run {run_id!r} in the store {self.store}; list runs with GET /api/runs", run_id=str(run_id))
        return self._zip_chunks(reader, names if names is not None else [], chunk)

    @staticmethod
    def _zip_chunks(reader: RunReader, names: list[str], chunk: int) -> Iterator[bytes]:
        out = _Chunks()
        # Not seekable: each file's sizes follow its data. strict_timestamps=False: a file dated
        # before 1980 (a zip cannot say) is stored dated 1980, not left out.
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as zf:
            for name in reader.file_names():
                try:
                    path = reader.file_path(name)
                    if not path.is_file():
                        continue
                    info = zipfile.ZipInfo.from_file(path, name, strict_timestamps=False)
                    src = open(path, "rb")
                except (ValueError, OSError):  # outside the run, or gone since it was listed
                    continue
                info.compress_type = zipfile.ZIP_DEFLATED
                # A read error from here on ends the download (it is not a whole zip), rather
                # than storing a truncated file that looks whole.
                with src, zf.open(info, "w", force_zip64=info.file_size > 1 << 30) as dst:
                    while data := src.read(chunk):
                        dst.write(data)
                        if out.size >= chunk:
                            yield out.take()
                names.append(name)
        yield out.take()

    def warm(self) -> None:
        """Parse the whole store once (called in the background when the server starts)."""
        for cache in self._scan():
            try:
                cache.refresh()
            except (OSError, ValueError):
                continue

    def iter_run_ids(self) -> Iterator[str]:
        return (c.run_id for c in self._scan())
