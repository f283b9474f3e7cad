"""What an uploader keeps about one run and one target: the cursor, the lock, counts, the last failure.

:class:`UploadState` holds the :class:`~runlog._upload._cursor.UploadCursor` (guarded by a
thread lock, saved after every acknowledged request), the counts of what was sent
(:class:`UploadStats`), the last failed request (:class:`~runlog._upload._failure.UploadFailure`)
and the cross-process :class:`UploadLock`; :meth:`UploadState.pending` says what the store holds
that the target has not acknowledged (:class:`Pending`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .._store import RunReader, layout
from .._store.layout import POINT_SIZE
from ._cursor import UPLOAD_DIR, FileCursor, UploadCursor
from ._failure import UploadFailure
from ._reading import NAME_LINE, event_files, file_size, read_whole_lines

__all__ = ["Pending", "UploadLock", "UploadState", "UploadStats"]

_log = logging.getLogger("runlog.upload")


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


class UploadLock:
    """One uploader per run and target across processes: an advisory ``flock`` on ``<run>/upload/<target>.lock``.

    The kernel releases it when the holder dies.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it (or it cannot be opened)."""
        if self._fd >= 0:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            _log.debug("cannot open upload lock %s: %s", self.path, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def forget(self) -> None:
        """In a forked child: the lock belongs to the parent; close the descriptor without unlocking."""
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = -1


class UploadState:
    """The cursor of one run and one target, what was sent, and why the last request failed."""

    def __init__(self, run_dir: Path, reader: RunReader, target_name: str, endpoint: str) -> None:
        self.run_dir = run_dir
        self.reader = reader
        self.cursor = UploadCursor.load(run_dir, target_name, endpoint)
        self.lock = UploadLock(run_dir / UPLOAD_DIR / f"{target_name}.lock")
        self.stats = UploadStats()
        # Why the last request did not go through (None once one succeeds): what the warnings
        # and `runlog sync` say when the upload cannot finish.
        self.last_failure: UploadFailure | None = None
        self._cursor_lock = threading.Lock()

    def save(self) -> None:
        """Write the cursor (after a request was acknowledged)."""
        with self._cursor_lock:
            self.cursor.save(self.run_dir)

    def advance_metrics(self, source: str, position: FileCursor) -> None:
        """The target acknowledged events file ``source`` up to ``position``."""
        with self._cursor_lock:
            self.cursor.metrics[source] = position
            self.cursor.save(self.run_dir)

    def advance_meta(self, source: str, offset: int) -> None:
        with self._cursor_lock:
            self.cursor.meta[source] = offset
            self.cursor.save(self.run_dir)

    def file_sent(self, name: str, signature: list[int]) -> None:
        with self._cursor_lock:
            self.cursor.files[name] = signature
            self.cursor.save(self.run_dir)

    def pending(self) -> Pending:
        """What is in the store and not acknowledged by the target (for warnings and progress)."""
        left = Pending()
        with self._cursor_lock:
            metrics = {k: v.offset for k, v in self.cursor.metrics.items()}
            meta = dict(self.cursor.meta)
            files = {k: list(v) for k, v in self.cursor.files.items()}
        for path in event_files(self.run_dir, layout.METRICS_SUFFIX):
            offset = metrics.get(path.name, 0)
            rest = read_whole_lines(path, offset, 64 << 20) if file_size(path) > offset else b""
            left.metric_bytes += len(rest)
            names = rest.count(b"\n" + NAME_LINE) + rest.startswith(NAME_LINE)
            left.metric_events += rest.count(b"\n") - names
        for path in event_files(self.run_dir, layout.POINTS_SUFFIX):
            records = max(0, file_size(path) - metrics.get(path.name, 0)) // POINT_SIZE
            left.metric_bytes += records * POINT_SIZE
            left.metric_events += records
        for path in event_files(self.run_dir, layout.META_SUFFIX):
            left.meta_bytes += max(0, file_size(path) - meta.get(path.name, 0))
        for name in self.reader.file_names():
            try:
                st = (self.reader.files_dir / name).stat()
            except OSError:
                continue
            if files.get(name) != [st.st_size, st.st_mtime_ns]:
                left.files.append(name)
                left.file_bytes += st.st_size
        return left
