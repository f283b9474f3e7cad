"""The uploader core: tail a run's store from a persisted cursor and ship it to a target.

Target-agnostic. A :class:`Target` (MLflow today, OTLP later) turns batches of
events into requests; this module decides what to read, how much at once, when a
batch is acknowledged (the cursor moves), what is retried (``_retry``) and what is
set aside (the dead-letter file). See ``docs/upload-core.md``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from .._errors import UploadRejected
from .._store import RunReader, layout
from .._store.layout import POINT_SIZE
from .._store.reader import EventColumns, decode_points, merge_by_time, parse_columns, point_names, points_path
from ._cursor import UPLOAD_DIR, FileCursor, UploadCursor
from ._retry import UploadAborted, UploadOptions, call_with_retry

__all__ = [
    "CONTENT_REFUSALS",
    "MetaEvent",
    "MetricEvent",
    "Pending",
    "RunInfo",
    "Target",
    "Uploader",
    "iter_metric_events",
]

# HTTP statuses of a refusal of what was sent (a bad value, too large), as opposed to one of
# where or by whom it was sent (401, 403, 404, a redirect, 415): only the first are set aside.
CONTENT_REFUSALS = frozenset({400, 413, 422})

_log = logging.getLogger("runlog.upload")

T = TypeVar("T")
_TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
_BATCH_BYTES = 512 * 1024
_MAX_REJECT_WARNINGS = 5
# While the run is live, the uploader sleeps this many times the CPU time a batch cost it,
# so that a training loop logging flat out keeps >= ~85% of the GIL (it catches up later).
_LIVE_CPU_SHARE_FACTOR = 6.0
TEST_EXIT_ENV = "RUNLOG_UPLOAD_TEST_EXIT_AFTER_BATCHES"


class MetricEvent(NamedTuple):
    """One metric event of the store, with its deterministic position.

    ``seq`` is derived from the event's place in its events file, never from
    upload order: for scalars (``s``) and images (``i``) the step given to
    ``run.log`` or, when none was given, the previous step of the name in that file
    plus one (from 0); for a list (``l``) the step of its first element (the others
    follow); for rows and tables (``r``, ``t``) the index of the first row. ``source``
    is the events file the event came from: a ``*.metrics.jsonl`` file or, for the
    numeric ``run.log`` points, a ``*.points.bin`` file.
    """

    kind: str
    name: str
    value: Any
    step: int | None
    time: float
    seq: int
    source: str


class MetaEvent(NamedTuple):
    """One status/tag/property/name/description event (see ``docs/store-format.md``)."""

    kind: str
    key: str | None
    value: Any
    time: float


@dataclass(frozen=True)
class RunInfo:
    """What a target needs to find or create the remote run."""

    run_id: str
    experiment: str
    run_dir: Path
    record: dict[str, Any]
    display_name: str | None
    start_time: float
    parent_id: str | None


@runtime_checkable
class Target(Protocol):
    """A remote place runs are shipped to. Every method may be called again with the same data.

    Methods raise :class:`~runlog.UploadUnavailable` for what is worth retrying and
    :class:`~runlog.UploadRejected` for what is not; the core retries, splits a
    rejected batch to find the culprit, and sets it aside.
    """

    name: str  # cursor file stem, unique per endpoint: "<kind>-<hash>"
    endpoint: str  # for messages; never contains a secret
    max_points: int  # most points per send_metrics call
    max_meta: int  # most events per send_meta call

    def open(self, run: RunInfo, state: dict[str, Any]) -> None:
        """Find or create the remote run, keeping what must survive restarts in ``state``.

        ``state`` is persisted in the cursor (saved after every acknowledged batch, so a
        target may also update it in ``send_*`` and ``flush``) and comes back as it was
        after a restart. When it already names the remote run, ``open`` needs no request.
        """

    def send_metrics(self, events: Sequence[MetricEvent]) -> None:
        """Send a batch of metric events; a re-send of the same events must be harmless."""

    def send_meta(self, events: Sequence[MetaEvent]) -> None:
        """Send tags, properties, names and descriptions (status goes through :meth:`finish`)."""

    def send_file(self, name: str, path: Path) -> None:
        """Upload run file ``name`` (whole; called again when the file changed)."""

    def flush(self, final: bool) -> None:
        """Send what the target derives from several events (e.g. table artifacts)."""

    def finish(self, status: str, end_time: float | None) -> None:
        """The local run ended with ``status`` and everything before it was sent."""

    def close(self) -> None:
        """Release connections."""


@dataclass
class Pending:
    """What is not uploaded yet.

    ``metric_events``: metric events and numeric points not acknowledged (the name
    definitions of a points file, ``n`` lines, are not counted); ``metric_bytes``: the
    bytes of the metric files the cursor has not passed yet (``n`` lines included, a
    torn last line or record not).
    """

    metric_events: int = 0
    metric_bytes: int = 0
    meta_bytes: int = 0
    files: list[str] = field(default_factory=list)
    file_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.metric_bytes + self.meta_bytes + self.file_bytes

    def __bool__(self) -> bool:
        return bool(self.metric_bytes or self.meta_bytes or self.files)


@dataclass
class UploadStats:
    """Counts of what one uploader sent (for ``runlog sync`` and tests)."""

    metric_events: int = 0
    meta_events: int = 0
    files: int = 0
    dead_letters: int = 0
    requests_ok: int = 0


def _points(kind: str, value: Any) -> int:
    if kind == "l" and isinstance(value, list):
        return max(1, len(value))
    if kind == "r" and isinstance(value, dict):
        return max(1, len(value))
    if kind == "t" and isinstance(value, dict):
        return max(1, sum(len(v) for v in value.values() if isinstance(v, list)))
    return 1


def _parse_chunk(data: bytes) -> list[Any]:
    """Parse whole lines (``data`` ends with a newline); a bad line becomes None."""
    lines = data.split(b"\n")[:-1]
    try:
        parsed = json.loads(b"[" + b",".join(lines) + b"]")
        if isinstance(parsed, list) and len(parsed) == len(lines):
            return parsed
    except ValueError:
        pass
    out: list[Any] = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(None)
    return out


def _read_records(path: Path, offset: int, end: int, limit: int) -> bytes:
    """The whole points records from ``offset`` (a multiple of the record size) below ``end``, at most ``limit`` bytes."""
    size = max(POINT_SIZE, min(limit, end - offset)) // POINT_SIZE * POINT_SIZE
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(size)
    except FileNotFoundError:
        return b""
    return data[: len(data) // POINT_SIZE * POINT_SIZE]


_NAME_LINE = b'["n"'


def _scan_point_names(metrics: Path, offset: int, names: dict[int, str], chunk: int) -> int:
    """Add the name definitions (``n`` lines) of ``metrics`` from byte ``offset`` to ``names``; the offset reached.

    Only the lines that start with ``["n"`` are decoded, ``chunk`` bytes at a time.
    """
    while data := _read_whole_lines(metrics, offset, chunk):
        offset += len(data)
        if _NAME_LINE in data:
            lines = [line for line in data.split(b"\n")[:-1] if line.startswith(_NAME_LINE)]
            names.update(point_names(parse_columns(b"\n".join(lines) + b"\n")))
    return offset


def _metrics_path(points: Path) -> Path:
    """The metrics file whose ``n`` lines name the ids of a ``<proc>.points.bin`` file."""
    return points.with_name(points.name[: -len(layout.POINTS_SUFFIX)] + layout.METRICS_SUFFIX)


def _read_whole_lines(path: Path, offset: int, limit: int) -> bytes:
    """Bytes from ``offset`` up to the last newline within ``limit`` (more if one line is longer)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(limit)
            while data and b"\n" not in data:
                more = fh.read(limit)
                if not more:
                    return b""
                data += more
    except FileNotFoundError:
        return b""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


class Uploader:
    """Ships one run to one target, from the cursor on; in a thread (:meth:`start`) or in the foreground (:meth:`sync`)."""

    def __init__(self, run_dir: Path, target: Target, options: UploadOptions | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.target = target
        self.options = options or UploadOptions()
        self.reader = RunReader(self.run_dir)
        self.cursor = UploadCursor.load(self.run_dir, target.name, target.endpoint)
        self.stats = UploadStats()
        self.last_error: str | None = None
        self._warned_error: str | None = None
        self.done = False
        self._abort = threading.Event()
        self._wake = threading.Event()
        self._final = threading.Event()
        self._opened = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_fd = -1
        self._cursor_lock = threading.Lock()
        self._log_sent_at: dict[str, float] = {}
        self._log_cost: dict[str, float] = {}
        self._reject_warnings = 0
        self._progress: Callable[[int], None] | None = None
        self._cpu_mark = 0.0
        # per points file: the names its ids have (from the metrics file's "n" lines) and how
        # far that metrics file has been scanned for them
        self._point_names: dict[str, tuple[dict[int, str], int]] = {}
        if self.cursor.remote.get("run_id"):
            self._opened.set()
        if hasattr(target, "retry"):
            # A target that makes several requests per call retries each one, so that a
            # server failing every n-th request cannot starve a call made of n requests.
            target.retry = self._retry_request
        if hasattr(target, "checkpoint"):
            # A target whose call makes several acknowledged requests (a long log) saves its
            # position after each: a crash re-sends at most one request.
            target.checkpoint = self._checkpoint
        if hasattr(target, "set_aside"):
            # A target that skips a part of a call (a log line the endpoint refuses) records it
            # in the dead-letter file at once, whatever happens to the rest of the call.
            target.set_aside = self._dead_letter

    def _checkpoint(self) -> None:
        with self._cursor_lock:
            self.cursor.save(self.run_dir)

    def _retry_request(self, fn: Callable[[], T], what: str) -> T:
        return call_with_retry(fn, f"run {self.run_id}: {what}", self.options, abort=self._abort)

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def remote_run_id(self) -> str | None:
        value = self.cursor.remote.get("run_id")
        return str(value) if value else None

    def wait_opened(self, timeout: float) -> str | None:
        """The remote run id, waiting up to ``timeout`` seconds for the remote run to be found or created."""
        self._opened.wait(timeout)
        return self.remote_run_id

    # -- the lock: one uploader per run and target, across processes --------------------

    def _try_lock(self) -> bool:
        if self._lock_fd >= 0:
            return True
        path = self.run_dir / UPLOAD_DIR / f"{self.target.name}.lock"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            _log.debug("cannot open upload lock %s: %s", path, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, -1
        if fd >= 0:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _forget_after_fork(self) -> None:
        # In a forked child: the thread does not exist there and the lock belongs to the parent.
        if self._lock_fd >= 0:
            try:
                os.close(self._lock_fd)
            except OSError:
                pass
        self._lock_fd = -1
        self._thread = None
        self._abort.set()

    # -- background mode ------------------------------------------------------------------

    def start(self) -> Uploader:
        self._thread = threading.Thread(target=self._loop, name=f"runlog-upload-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        try:
            while not self._abort.is_set():
                final = self._final.is_set()
                if not self.run_dir.is_dir():
                    _log.debug("run folder %s is gone; the uploader stops", self.run_dir)
                    return
                if self._try_lock():
                    try:
                        self.step(final=final)
                        self.last_error = self._warned_error = None
                        if final:
                            self.done = True
                            return
                    except UploadAborted:
                        return
                    except UploadRejected as exc:
                        self.last_error = str(exc)
                        _log.warning(
                            "run %s: %s refused the run itself (%s); %s. Nothing more is sent from this "
                            "process: fix it, then run `runlog sync %s`. Set the level of the 'runlog' logger "
                            "to DEBUG for details",
                            self.run_id, self.target.endpoint, exc, exc.hint or "check the server", self.run_id,
                        )  # fmt: skip
                        return
                    except Exception as exc:  # an uploader never kills the program
                        self.last_error = f"{type(exc).__name__}: {exc}"
                        # Tried again every pass: the same failure is one WARNING, not one a second.
                        repeated, self._warned_error = self._warned_error == self.last_error, self.last_error
                        _log.log(
                            logging.DEBUG if repeated else logging.WARNING,
                            "run %s: the upload to %s failed unexpectedly (%s); it will be tried again. Set the "
                            "level of the 'runlog' logger to DEBUG for details",
                            self.run_id, self.target.endpoint, self.last_error,
                        )  # fmt: skip
                        _log.debug("upload failure", exc_info=True)
                        if final:
                            return
                else:
                    _log.debug("run %s: another process holds the upload lock; waiting", self.run_id)
                    if final:
                        self.last_error = "another process is uploading this run"
                        return
                self._wake.wait(self.options.interval)
                self._wake.clear()
        finally:
            self._unlock()
            try:
                self.target.close()
            except Exception:
                _log.debug("closing the upload target failed", exc_info=True)

    def finish(self, timeout: float | None = None) -> bool:
        """Do a last full pass and wait up to ``timeout`` seconds; True when everything was sent."""
        timeout = self.options.finish_timeout if timeout is None else timeout
        self._final.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                self.stop()
                thread.join(min(1.0, self.options.request_timeout))
        return self.done

    def stop(self) -> None:
        """Stop at the next chance; what is not sent stays for ``runlog sync``."""
        self._abort.set()
        self._wake.set()

    # -- foreground mode --------------------------------------------------------------------

    def sync(self, progress: Callable[[int], None] | None = None, timeout: float | None = None) -> bool:
        """Upload everything now (``runlog sync``); False when another process holds the run's upload lock."""
        if not self._try_lock():
            return False
        timer = threading.Timer(timeout, self.stop) if timeout else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        self._progress = progress
        try:
            self.step(final=True)
            self.done = True
        finally:
            self._progress = None
            if timer is not None:
                timer.cancel()
            self._unlock()
        return True

    # -- one pass ---------------------------------------------------------------------------------

    def _retry(self, fn: Callable[[], T], what: str) -> T:
        result = call_with_retry(fn, f"run {self.run_id}: {what}", self.options, abort=self._abort)
        self.stats.requests_ok += 1
        return result

    def _save(self) -> None:
        with self._cursor_lock:
            self.cursor.save(self.run_dir)

    def step(self, final: bool = False) -> None:
        """One pass: the remote run, new metric events, meta events, changed files, then the status."""
        self._open()
        self._send_metric_files()
        self._send_meta_files()
        self._send_files(final)
        try:
            self._retry(lambda: self.target.flush(final), "derived data")
        except UploadRejected as exc:
            self._dead_letter("derived", ["derived data (tables)"], exc)
        self._save()
        state = self.reader.state()
        if state.status in _TERMINAL and self.cursor.finished != state.status and not self.pending():
            try:
                self._retry(lambda: self.target.finish(state.status, state.end_time), f"status {state.status}")
            except UploadRejected as exc:
                self._dead_letter("status", [f"status {state.status}"], exc)
            self.cursor.finished = state.status
            self._save()

    def _open(self) -> None:
        before = json.dumps(self.cursor.remote, sort_keys=True, default=str)
        self._retry(lambda: self.target.open(self._run_info(), self.cursor.remote), "find or create the remote run")
        if json.dumps(self.cursor.remote, sort_keys=True, default=str) != before:
            self.cursor.endpoint = self.target.endpoint
            self._save()
            _log.debug("run %s: remote run %s at %s", self.run_id, self.remote_run_id, self.target.endpoint)
        self._opened.set()

    def _run_info(self) -> RunInfo:
        record = self.reader.record()
        state = self.reader.state()
        return RunInfo(
            run_id=self.run_id,
            experiment=str(record.get("experiment") or self.run_dir.parent.parent.name),
            run_dir=self.run_dir,
            record=record,
            display_name=state.display_name,
            start_time=float(state.start_time or record.get("created") or time.time()),
            parent_id=record.get("parent_id"),
        )

    def _event_files(self, suffix: str) -> list[Path]:
        folder = self.run_dir / layout.EVENTS_DIR
        try:
            return [folder / n for n in sorted(os.listdir(folder)) if n.endswith(suffix)]
        except FileNotFoundError:
            return []

    # metric events

    def _send_metric_files(self) -> None:
        for path in self._event_files(layout.METRICS_SUFFIX):
            # Up to the size the file has now: what a training loop logs while this pass runs
            # waits for the next pass, so a file that grows as fast as the server takes it
            # cannot keep the pass from the other files, the meta events, files and status.
            end = _size(path)
            while self._send_metric_chunk(path, end):
                pass
        for path in self._event_files(layout.POINTS_SUFFIX):
            end = _size(path)
            while self._send_points_chunk(path, end):
                pass

    def _send_metric_chunk(self, path: Path, end: int) -> bool:
        """Send the next chunk of ``path`` below byte ``end``; False when that much is caught up."""
        done = self.cursor.metrics.get(path.name) or FileCursor()
        if done.offset >= end:
            return False
        # (at least 64 KiB: a line still being written at `end` must not be read a byte at a time)
        data = _read_whole_lines(path, done.offset, min(self.options.read_chunk, max(end - done.offset, 64 << 10)))
        if not data:
            return False
        work = done.copy()
        batch: list[MetricEvent] = []
        weight = 0
        batch_start = pos = done.offset
        for raw_len, event in zip((len(x) + 1 for x in data.split(b"\n")[:-1]), _parse_chunk(data)):
            if not (isinstance(event, list) and len(event) >= 5 and isinstance(event[1], str)):
                pos += raw_len  # an unreadable line: skipped, as readers do
                continue
            kind, name, value, step, ts = event[:5]
            w = _points(kind, value)
            if batch and (weight + w > self.target.max_points or pos - batch_start > _BATCH_BYTES):
                self._deliver_metrics(batch, FileCursor(pos, dict(work.next_step), dict(work.next_row)), path.name, pos - batch_start)
                batch, weight, batch_start = [], 0, pos
            seq = self._assign(work, kind, name, value, step)
            if seq is not None:
                batch.append(MetricEvent(kind, name, value, step, float(ts), seq, path.name))
                weight += w
            pos += raw_len
        work.offset = pos
        if batch:
            self._deliver_metrics(batch, work, path.name, pos - batch_start)
        else:
            self.cursor.metrics[path.name] = FileCursor(pos, work.next_step, work.next_row)
            self._save()
        return True

    def _names_for(self, path: Path, ids: set[int]) -> dict[int, str]:
        """The names of the ids of points file ``path``; its metrics file is read again only for an unknown id."""
        names, scanned = self._point_names.get(path.name) or ({}, 0)
        if not ids.issubset(names):
            scanned = _scan_point_names(_metrics_path(path), scanned, names, self.options.read_chunk)
            self._point_names[path.name] = (names, scanned)
        return names

    def _send_points_chunk(self, path: Path, end: int) -> bool:
        """Send the next chunk of points file ``path`` below byte ``end``; False when that much is caught up.

        The records are read before the names: the writer defines a name (an ``n`` line in
        the metrics file) before it writes a point with its id, so the names read after the
        records cover them all. A record whose id is still unknown then lost its ``n`` line (a
        metrics-file write that failed half-way): it is skipped, as readers skip it; a torn last
        record waits for its end.
        """
        done = self.cursor.metrics.get(path.name) or FileCursor()
        offset = done.offset - done.offset % POINT_SIZE
        if offset + POINT_SIZE > end:
            return False
        data = _read_records(path, offset, end, self.options.read_chunk)
        if not data:
            return False
        ids = set(memoryview(data).cast("I")[0::8].tolist())
        names = self._names_for(path, ids)
        lost = ids.difference(names)
        if lost:
            _log.debug("run %s: %s: skipped the points of name id(s) %s: no name defines them", self.run_id, path.name, sorted(lost))
            names = {**names, **dict.fromkeys(lost, "")}  # "" is no metric name: such points are left out below
        columns = decode_points(data, names)
        count = len(columns)
        work = done.copy()
        next_step = work.next_step
        per_batch = max(1, min(self.target.max_points, _BATCH_BYTES // POINT_SIZE))
        source = path.name
        if not count:  # every record read was damaged (failed its check, zero fill): move past them
            self.cursor.metrics[source] = FileCursor(offset + len(data), dict(next_step), dict(work.next_row))
            self._save()
            return True
        for start in range(0, count, per_batch):
            stop = min(count, start + per_batch)
            batch: list[MetricEvent] = []
            for name, value, step, ts in zip(
                columns.names[start:stop], columns.values[start:stop], columns.steps[start:stop], columns.times[start:stop]
            ):
                if not name:
                    continue
                seq = next_step.get(name, 0) if step is None else step
                next_step[name] = seq + 1
                batch.append(MetricEvent("s", name, value, step, ts, seq, source))
            # (damaged records are skipped: the last batch moves the cursor past all that was read)
            advance = FileCursor(offset + (len(data) if stop == count else stop * POINT_SIZE), dict(next_step), dict(work.next_row))
            if batch:
                self._deliver_metrics(batch, advance, source, (stop - start) * POINT_SIZE)
            else:
                self.cursor.metrics[source] = advance
                self._save()
        return True

    @staticmethod
    def _assign(work: FileCursor, kind: str, name: str, value: Any, step: Any) -> int | None:
        if kind in ("s", "i"):
            seq = step if type(step) is int else work.next_step.get(name, 0)
            work.next_step[name] = seq + 1
            return seq
        if kind == "l":
            seq = work.next_step.get(name, 0)
            work.next_step[name] = seq + (len(value) if isinstance(value, list) else 0)
            return seq
        if kind in ("r", "t"):
            seq = work.next_row.get(name, 0)
            if kind == "r":
                rows = 1
            else:
                rows = max((len(v) for v in value.values() if isinstance(v, list)), default=0) if isinstance(value, dict) else 0
            work.next_row[name] = seq + rows
            return seq
        return None  # a kind this version does not know: skipped

    def _deliver_metrics(self, batch: list[MetricEvent], advance: FileCursor, source: str, nbytes: int) -> None:
        self._deliver(self.target.send_metrics, batch, "metrics", f"{len(batch)} metric event(s) of {source}")
        self.stats.metric_events += len(batch)
        self._throttle()
        _maybe_exit_for_test()
        with self._cursor_lock:
            self.cursor.metrics[source] = advance
            self.cursor.save(self.run_dir)
        if self._progress is not None:
            self._progress(nbytes)

    def _throttle(self) -> None:
        """In the background while the run is live: give the training loop the GIL back."""
        cpu = time.thread_time()
        used, self._cpu_mark = cpu - self._cpu_mark, cpu
        if self._thread is not None and threading.current_thread() is self._thread and not self._final.is_set():
            self._final.wait(min(1.0, used * _LIVE_CPU_SHARE_FACTOR))
            self._cpu_mark = time.thread_time()

    def _deliver(self, send: Callable[[Any], None], items: list[Any], kind: str, what: str) -> None:
        """Send ``items``; a rejected batch is split in halves until the culprit is alone, then set aside."""
        try:
            self._retry(lambda: send(items), f"send {what}")
        except UploadRejected as exc:
            if len(items) > 1:
                mid = len(items) // 2
                self._deliver(send, items[:mid], kind, what + " (first half)")
                self._deliver(send, items[mid:], kind, what + " (second half)")
                return
            self._dead_letter(kind, items, exc)

    def _dead_letter(self, kind: str, items: list[Any], exc: UploadRejected) -> None:
        path = self.run_dir / UPLOAD_DIR / f"{self.target.name}.dead.jsonl"
        entry = {
            "time": time.time(),
            "kind": kind,
            "error": str(exc),
            "status": exc.status,
            "code": exc.code,
            "items": [i._asdict() if hasattr(i, "_asdict") else i for i in items],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, default=str) + "\n")
        except OSError as write_error:
            _log.debug("cannot write the dead-letter file %s: %s", path, write_error)
        self.stats.dead_letters += len(items)
        self.cursor.dead_letters += len(items)
        self._reject_warnings += 1
        level = logging.WARNING if self._reject_warnings <= _MAX_REJECT_WARNINGS else logging.DEBUG
        _log.log(
            level,
            "run %s: %s refused %s (%s). Fix: %s. It is kept in %s; the rest of the run goes on uploading. "
            "Set the level of the 'runlog' logger to DEBUG for details",
            self.run_id, self.target.endpoint, _describe(kind, items), exc, exc.hint or "see the error", path,
        )  # fmt: skip

    # meta events

    def _send_meta_files(self) -> None:
        for path in self._event_files(layout.META_SUFFIX):
            offset = self.cursor.meta.get(path.name, 0)
            data = _read_whole_lines(path, offset, self.options.read_chunk)
            while data:
                events = [
                    MetaEvent(e[0], e[1], e[2], float(e[4]))
                    for e in _parse_chunk(data)
                    if isinstance(e, list) and len(e) >= 5 and isinstance(e[0], str)
                ]
                for i in range(0, len(events), self.target.max_meta):
                    part = events[i : i + self.target.max_meta]
                    self._deliver(self.target.send_meta, part, "meta", f"{len(part)} tag/property event(s)")
                    self.stats.meta_events += len(part)
                offset += len(data)
                with self._cursor_lock:
                    self.cursor.meta[path.name] = offset
                    self.cursor.save(self.run_dir)
                if self._progress is not None:
                    self._progress(len(data))
                data = _read_whole_lines(path, offset, self.options.read_chunk)

    # files

    def _send_files(self, final: bool) -> None:
        now = time.monotonic()
        for name in self.reader.file_names():
            path = self.reader.files_dir / name
            try:
                st = path.stat()
            except OSError:
                continue
            signature = [st.st_size, st.st_mtime_ns]
            if self.cursor.files.get(name) == signature:
                continue
            is_log = name.startswith(layout.LOGS_PREFIX)
            # A growing log is re-sent whole: at most every log_interval, and never more than
            # a tenth of the time (a big log is re-sent less often while the run is live).
            wait = max(self.options.log_interval, 10 * self._log_cost.get(name, 0.0))
            if is_log and not final and now - self._log_sent_at.get(name, -1e9) < wait:
                continue
            refusals: list[UploadRejected] = []

            def send(items: list[str], file: Path = path, found: list[UploadRejected] = refusals) -> None:
                try:
                    self.target.send_file(items[0], file)
                except UploadRejected as exc:
                    found.append(exc)
                    raise

            self._deliver(send, [name], "file", f"file {name}")
            self._log_cost[name] = time.monotonic() - now
            self._log_sent_at[name] = now = time.monotonic()
            refused = refusals[-1] if refusals else None
            if refused is not None and (
                getattr(refused, "retry_later", False) or (refused.status is not None and refused.status not in CONTENT_REFUSALS)
            ):
                # Refused for where or by whom it was sent (credentials, address), not for what it
                # holds: not done, so a later pass sends it again once the endpoint is fixed.
                continue
            self.stats.files += 1
            with self._cursor_lock:
                self.cursor.files[name] = signature
                self.cursor.save(self.run_dir)
            if self._progress is not None:
                self._progress(st.st_size)

    # what is left

    def pending(self) -> Pending:
        """What is in the store and not acknowledged by the target (for warnings and progress)."""
        left = Pending()
        with self._cursor_lock:
            metrics = {k: v.offset for k, v in self.cursor.metrics.items()}
            meta = dict(self.cursor.meta)
            files = {k: list(v) for k, v in self.cursor.files.items()}
        for path in self._event_files(layout.METRICS_SUFFIX):
            offset = metrics.get(path.name, 0)
            rest = _read_whole_lines(path, offset, 64 << 20) if _size(path) > offset else b""
            left.metric_bytes += len(rest)
            names = rest.count(b"\n" + _NAME_LINE) + rest.startswith(_NAME_LINE)
            left.metric_events += rest.count(b"\n") - names
        for path in self._event_files(layout.POINTS_SUFFIX):
            records = max(0, _size(path) - metrics.get(path.name, 0)) // POINT_SIZE
            left.metric_bytes += records * POINT_SIZE
            left.metric_events += records
        for path in self._event_files(layout.META_SUFFIX):
            left.meta_bytes += max(0, _size(path) - meta.get(path.name, 0))
        for name in self.reader.file_names():
            try:
                st = (self.reader.files_dir / name).stat()
            except OSError:
                continue
            if files.get(name) != [st.st_size, st.st_mtime_ns]:
                left.files.append(name)
                left.file_bytes += st.st_size
        return left


def iter_metric_events(
    run_dir: Path, kinds: Sequence[str] | None = None, chunk: int = 1 << 20
) -> Iterator[tuple[str, str, Any]]:
    """``(kind, name, value)`` of every metric event of a run (of ``kinds``), files merged by time.

    Files are read ``chunk`` bytes at a time, and with ``kinds`` only lines starting with
    ``["<kind>"`` are decoded: the tables of a run are found without decoding its scalars.
    The numeric ``run.log`` points of each process (its ``*.points.bin`` file) are ``s``
    events: read when ``kinds`` is None or contains ``"s"``.
    """
    folder = Path(run_dir) / layout.EVENTS_DIR
    with_points = kinds is None or "s" in kinds
    wanted = None if kinds is None else tuple(kinds) + (("n",) if with_points else ())
    prefixes = None if wanted is None else tuple(b'["' + k.encode() + b'"' for k in wanted)
    try:
        files = sorted(n for n in os.listdir(folder) if n.endswith(layout.METRICS_SUFFIX))
    except FileNotFoundError:
        files = []
    parts: list[EventColumns] = []
    for n in files:
        path = folder / n
        points = points_path(path)
        # The points are read up to the size they had before the metrics file is read: every
        # id in them is defined by an "n" line that is in the metrics file by then.
        points_end = _size(points) if with_points else 0
        names: dict[int, str] = {}
        lines = EventColumns()
        offset = 0
        while data := _read_whole_lines(path, offset, chunk):
            offset += len(data)
            if prefixes is not None:
                if not any(p in data for p in prefixes):
                    continue
                data = b"".join(line + b"\n" for line in data.split(b"\n")[:-1] if line.startswith(prefixes))
                if not data:
                    continue
            part = parse_columns(data)
            if "n" in part.kinds:
                names.update(point_names(part))
            keep = [i for i, k in enumerate(part.kinds) if k != "n" and (kinds is None or k in kinds)]
            lines.extend(part if len(keep) == len(part) else part.take(keep))
        parts.append(lines)
        offset = 0
        numbers = EventColumns()
        while offset + POINT_SIZE <= points_end and (data := _read_records(points, offset, points_end, chunk)):
            numbers.extend(decode_points(data, names))  # (points of a name without an "n" line are skipped)
            offset += len(data)
        parts.append(numbers)
    merged = merge_by_time(parts)
    yield from zip(merged.kinds, merged.names, merged.values)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _describe(kind: str, items: list[Any]) -> str:
    if kind == "metrics" and items:
        first = items[0]
        return f"metric {first.name!r} (value {first.value!r}, step {first.seq})"
    if kind == "file" and items:
        return f"file {items[0]!r}"
    if kind == "meta" and items:
        first = items[0]
        return f"{first.kind} {first.key!r}"
    return kind


_batches_sent = 0


def _maybe_exit_for_test() -> None:
    """Test hook: die right after the N-th acknowledged batch, before the cursor is saved."""
    global _batches_sent
    limit = os.environ.get(TEST_EXIT_ENV)
    if not limit:
        return
    _batches_sent += 1
    if _batches_sent >= int(limit):
        os._exit(75)
