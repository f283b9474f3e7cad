"""Planning a pass: what to send next, read from the store at the cursor and cut into batches.

:class:`Planner` reads each events file from its cursor entry (whole lines of a metrics or
meta file, whole records of a points file, ``read_chunk`` bytes at a time), gives every metric
event its deterministic ``seq``, cuts batches of at most ``max_points`` points and ~512 KB,
and picks the files that changed; :class:`~runlog._upload._delivery.Delivery` sends them, and
the cursor moves past what the target acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import UploadRejected
from .._store import RunReader, layout
from .._store.layout import POINT_SIZE
from .._store.reader import decode_points
from ._cursor import FileCursor
from ._delivery import Delivery, maybe_exit_for_test
from ._reading import (
    event_files,
    file_size,
    metrics_path,
    parse_chunk,
    read_records,
    read_whole_lines,
    scan_point_names,
)
from ._retry import UploadOptions
from ._state import UploadState
from ._target import CONTENT_REFUSALS, MetaEvent, MetricEvent, Target

__all__ = ["BATCH_BYTES", "Planner"]

_log = logging.getLogger("runlog.upload")

BATCH_BYTES = 512 * 1024


def _points(kind: str, value: Any) -> int:
    if kind == "l" and isinstance(value, list):
        return max(1, len(value))
    if kind == "r" and isinstance(value, dict):
        return max(1, len(value))
    if kind == "t" and isinstance(value, dict):
        return max(1, sum(len(v) for v in value.values() if isinstance(v, list)))
    return 1


class Planner:
    """Reads a run's store from the cursor of ``state`` and hands batches to ``delivery``.

    ``pause`` is called after each acknowledged metric batch (the live uploader yields the GIL
    there); ``progress``, when set, hears how many bytes of the store each step covered.
    """

    def __init__(
        self,
        run_dir: Path,
        reader: RunReader,
        target: Target,
        options: UploadOptions,
        state: UploadState,
        delivery: Delivery,
        pause: Callable[[], None],
    ) -> None:
        self.run_dir = run_dir
        self.run_id = run_dir.name
        self.reader = reader
        self.target = target
        self.options = options
        self.state = state
        self.cursor = state.cursor
        self.stats = state.stats
        self.delivery = delivery
        self.pause = pause
        self.progress: Callable[[int], None] | None = None
        self._log_sent_at: dict[str, float] = {}
        self._log_cost: dict[str, float] = {}
        # per points file: the names its ids have (from the metrics file's "n" lines) and how
        # far that metrics file has been scanned for them
        self._point_names: dict[str, tuple[dict[int, str], int]] = {}

    def send_metric_files(self) -> None:
        """Every metric events file and points file, each up to the size it has when the pass gets to it."""
        for path in event_files(self.run_dir, layout.METRICS_SUFFIX):
            # Up to the size the file has now: what a training loop logs while this pass runs
            # waits for the next pass, so a file that grows as fast as the server takes it
            # cannot keep the pass from the other files, the meta events, files and status.
            end = file_size(path)
            while self._send_metric_chunk(path, end):
                pass
        for path in event_files(self.run_dir, layout.POINTS_SUFFIX):
            end = file_size(path)
            while self._send_points_chunk(path, end):
                pass

    def _send_metric_chunk(self, path: Path, end: int) -> bool:
        """Send the next chunk of ``path`` below byte ``end``; False when that much is caught up."""
        done = self.cursor.metrics.get(path.name) or FileCursor()
        if done.offset >= end:
            return False
        # (at least 64 KiB: a line still being written at `end` must not be read a byte at a time)
        data = read_whole_lines(path, done.offset, min(self.options.read_chunk, max(end - done.offset, 64 << 10)))
        if not data:
            return False
        work = done.copy()
        batch: list[MetricEvent] = []
        weight = 0
        batch_start = pos = done.offset
        for raw_len, event in zip((len(x) + 1 for x in data.split(b"\n")[:-1]), parse_chunk(data)):
            if not (isinstance(event, list) and len(event) >= 5 and isinstance(event[1], str)):
                pos += raw_len  # an unreadable line: skipped, as readers do
                continue
            kind, name, value, step, ts = event[:5]
            w = _points(kind, value)
            if batch and (weight + w > self.target.max_points or pos - batch_start > BATCH_BYTES):
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
            self.state.advance_metrics(path.name, FileCursor(pos, work.next_step, work.next_row))
        return True

    def _names_for(self, path: Path, ids: set[int]) -> dict[int, str]:
        """The names of the ids of points file ``path``; its metrics file is read again only for an unknown id."""
        names, scanned = self._point_names.get(path.name) or ({}, 0)
        if not ids.issubset(names):
            scanned = scan_point_names(metrics_path(path), scanned, names, self.options.read_chunk)
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
        data = read_records(path, offset, end, self.options.read_chunk)
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
        per_batch = max(1, min(self.target.max_points, BATCH_BYTES // POINT_SIZE))
        source = path.name
        if not count:  # every record read was damaged (failed its check, zero fill): move past them
            self.state.advance_metrics(source, FileCursor(offset + len(data), dict(next_step), dict(work.next_row)))
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
                self.state.advance_metrics(source, advance)
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
        self.delivery.deliver(self.target.send_metrics, batch, "metrics", f"{len(batch)} metric event(s) of {source}")
        self.stats.metric_events += len(batch)
        self.pause()
        maybe_exit_for_test()
        self.state.advance_metrics(source, advance)
        if self.progress is not None:
            self.progress(nbytes)

    # meta events

    def send_meta_files(self) -> None:
        """The tag, property, name and description events of every meta events file."""
        for path in event_files(self.run_dir, layout.META_SUFFIX):
            offset = self.cursor.meta.get(path.name, 0)
            data = read_whole_lines(path, offset, self.options.read_chunk)
            while data:
                events = [
                    MetaEvent(e[0], e[1], e[2], float(e[4]))
                    for e in parse_chunk(data)
                    if isinstance(e, list) and len(e) >= 5 and isinstance(e[0], str)
                ]
                for i in range(0, len(events), self.target.max_meta):
                    part = events[i : i + self.target.max_meta]
                    self.delivery.deliver(self.target.send_meta, part, "meta", f"{len(part)} tag/property event(s)")
                    self.stats.meta_events += len(part)
                offset += len(data)
                self.state.advance_meta(path.name, offset)
                if self.progress is not None:
                    self.progress(len(data))
                data = read_whole_lines(path, offset, self.options.read_chunk)

    # files

    def send_files(self, final: bool) -> None:
        """Every run file that changed since it was sent (a growing log at most every ``log_interval``)."""
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

            self.delivery.deliver(send, [name], "file", f"file {name}")
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
            self.state.file_sent(name, signature)
            if self.progress is not None:
                self.progress(st.st_size)
