"""The events files of one process in a run: opening them, appending whole events, going on in new
files after a torn write, syncing and closing (see ``docs/store-format.md``, "Events files").

:class:`ProcessFiles` is the part of :class:`~runlog._store.writer.RunWriter` that knows the files;
the writer adds what is written into them.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path

from .._errors import StoreError
from . import layout

__all__ = ["ProcessFiles"]

_log = logging.getLogger("runlog.store")
_now = time.time
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class ProcessFiles:
    """This process's events files of one run (``<proc>.metrics.jsonl``, ``.points.bin``, ``.meta.jsonl``)
    and live logs, as descriptors opened on first use."""

    run_dir: Path
    files_dir: Path
    _events_dir: Path
    _lock: threading.RLock
    _proc: str
    _metrics_fd: int
    _points_fd: int
    _meta_fd: int
    _log_fds: dict[str, int]
    _ids: dict[str, int]

    def _name(self, name: str) -> str:  # the JSON text of a metric name (RunWriter)
        raise NotImplementedError

    def _retire_fds(self, fds: list[int]) -> None:  # close descriptors later (RunWriter: see close)
        raise NotImplementedError

    def _forget_ids(self) -> None:  # names are defined anew on use, with new ids (RunWriter: its packers too)
        raise NotImplementedError

    # -- opening -------------------------------------------------------------

    def _proc_id(self) -> str:
        if not self._proc:
            host = socket.gethostname().split(".")[0] or "host"
            self._proc = f"{host}-{os.getpid()}-{secrets.token_hex(3)}"
        return self._proc

    def _check_run_dir(self) -> None:
        if not self.run_dir.is_dir():  # removed: not recreated piecemeal by the next write
            raise StoreError(
                f"the run folder {self.run_dir} was removed; its logs, metrics and files are no longer kept. "
                f"Start a new run to keep logging"
            )

    def _open(self, path: Path) -> int:
        self._check_run_dir()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, _OPEN_FLAGS, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot open {path} for appending ({exc.strerror}); check that the store folder "
                f"exists and is writable, or point RUNLOG_STORE somewhere that is"
            ) from exc

    # The debug records are logged after the lock is released: a logging handler that
    # writes through this writer (RunHandler) would otherwise deadlock on it.
    def _open_metrics(self) -> int:
        opened = None
        with self._lock:
            if self._metrics_fd < 0:
                opened = self._events_dir / (self._proc_id() + layout.METRICS_SUFFIX)
                self._metrics_fd = self._open(opened)
            fd = self._metrics_fd
        if opened is not None:
            _log.debug("opened metric events file %s", opened)
        return fd

    def _open_points(self) -> int:
        with self._lock:
            if self._points_fd < 0:
                self._points_fd = self._open(self._events_dir / (self._proc_id() + layout.POINTS_SUFFIX))
            return self._points_fd

    def _open_meta(self) -> int:
        with self._lock:
            if self._meta_fd < 0:
                self._meta_fd = self._open(self._events_dir / (self._proc_id() + layout.META_SUFFIX))
            return self._meta_fd

    def _open_log(self, name: str) -> int:
        opened = None
        with self._lock:
            fd = self._log_fds.get(name, -1)
            if fd < 0:
                opened = self.files_dir / layout.check_file_name(name)
                fd = self._log_fds[name] = self._open(opened)
        if opened is not None:
            _log.debug("opened log file %s", opened)
        return fd

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        """Write all of ``data`` (a log's text: the rest of a short write follows it)."""
        try:
            n = os.write(fd, data)
            while n < len(data):  # a short write: only on a full disk or a signal
                data = data[n:]
                n = os.write(fd, data)
        except OSError as exc:
            raise StoreError(
                f"cannot append to the run store ({exc.strerror}); what was logged before is kept. "
                f"Free disk space or check the store folder, then log again"
            ) from exc

    def _append(self, fd: int, data: bytes, started: bool = False) -> None:
        """Write one or more whole events to an events file; ``started``: part of them is written.

        An event must be one ``write()``: the rest of a short write, written after it, could
        have another thread's event between the two parts. So a short write (a full disk) is a
        torn event: the file ends in a piece of it, which readers skip as a torn end; but an
        event appended after it would be glued to it (a line) or shifted (every later 32-byte
        record). So this process goes on in new events files (as a forked child does), the torn
        piece stays the old files' end, and a StoreError says what to do.
        """
        torn = started
        try:
            if not torn:
                torn = os.write(fd, data) != len(data)
        except OSError as exc:
            raise StoreError(
                f"cannot append to the run store ({exc.strerror}); what was logged before is kept. "
                f"Free disk space or check the store folder, then log again"
            ) from exc
        if torn:
            self._abandon_events()
            raise StoreError(
                "the disk took only part of a metric event (full?); that event is lost, what was logged "
                "before is kept, and this process goes on in new events files. Free disk space, then log again"
            )

    def _abandon_events(self) -> None:
        """Go on in new events files ``<proc>.<n>``, with every name defined there again first.

        The names keep their ids, and their ``n`` lines are written to the new metrics file before
        the new files are used: a thread that packed a point with an id just before the switch
        writes it where that id means the same name.
        """
        with self._lock:
            old = [self._metrics_fd, self._points_fd, self._meta_fd]
            # "<host>-<pid>-<rand>.<n>": the same process (a rank's files stay its), new files.
            stem = self._proc_id()
            self._proc = _next_proc(stem)
            self._metrics_fd = self._points_fd = self._meta_fd = -1
            try:
                if self._ids:
                    now = _now()
                    lines = "".join(f'["n",{self._name(name)},{nid},null,{now!r}]\n' for name, nid in self._ids.items())
                    fd = self._open(self._events_dir / (self._proc + layout.METRICS_SUFFIX))
                    self._metrics_fd = fd
                    if os.write(fd, lines.encode()) != len(lines):
                        raise OSError("short write")
                    self._copy_names(lines)
            except OSError:  # (a StoreError too) the disk is still full: names are defined anew on use
                self._forget_ids()
                if self._metrics_fd >= 0:
                    old.append(self._metrics_fd)
                    self._metrics_fd = -1
                    self._proc = _next_proc(self._proc)  # not the file with a piece of the names
        suffixes = (layout.METRICS_SUFFIX, layout.POINTS_SUFFIX, layout.META_SUFFIX)
        for fd, suffix in zip(old[:3], suffixes):
            if fd >= 0:
                _cut_torn_end(fd, self._events_dir / (stem + suffix), layout.POINT_SIZE if suffix == layout.POINTS_SUFFIX else 0)
        self._retire_fds([fd for fd in old if fd >= 0])
        _log.debug("an events write of run %s failed half-way: this process goes on in new events files", self.run_dir.name)

    def _copy_names(self, lines: str) -> None:
        """A second copy of name definitions (``n`` lines) in this process's meta file, where readers find
        them when the metrics file's copy was damaged (format 3; format 2 kept them in a
        ``<proc>.names.jsonl`` file of their own). Best effort: a failure only loses the redundancy, and a
        torn piece is cut off again at once, so no later meta event is glued to it. Called with the lock held."""
        path = self._events_dir / (self._proc_id() + layout.META_SUFFIX)
        data = lines.encode()
        try:
            if self._meta_fd < 0:
                self._meta_fd = os.open(path, _OPEN_FLAGS, 0o644)
            fd = self._meta_fd
            written = os.write(fd, data)
        except OSError:
            return
        if written != len(data):
            _cut_torn_end(fd, path, 0)

    # -- lifecycle -------------------------------------------------------------------

    def sync(self) -> None:
        """fsync what this process wrote (survives a machine crash, not only a process crash)."""
        with self._lock:
            fds = [self._metrics_fd, self._points_fd, self._meta_fd, *self._log_fds.values()]
        for fd in fds:
            if fd >= 0:
                try:
                    os.fsync(fd)
                except OSError:
                    pass
        _log.debug("flushed (fsync) %d file(s) of run %s", sum(fd >= 0 for fd in fds), self.run_dir.name)

    def close(self) -> None:
        """Close this process's files; a later write opens them again.

        The descriptors are retired, not closed at once: the write path reads a descriptor
        without a lock, so another thread may be about to write to one (a record logged
        as the run ends). Closed now, its number could be reused by the next run's files
        and that line would land there (in a points file, a stray JSON line would shift
        every record after it). They are closed by a later ``close()`` (of any run) once
        ``RETIRE_SECONDS`` have passed, by which time no write can still be holding them.
        """
        with self._lock:
            fds = [self._metrics_fd, self._points_fd, self._meta_fd, *self._log_fds.values()]
            self._metrics_fd = self._points_fd = self._meta_fd = -1
            self._log_fds = {}
        self._retire_fds([fd for fd in fds if fd >= 0])


def _next_proc(stem: str) -> str:
    """``<host>-<pid>-<rand>.<n>`` after ``stem``: the same process's next events files."""
    base, _, n = stem.partition(".")
    return f"{base}.{int(n or 0) + 1}"


def _cut_torn_end(fd: int, path: Path, record_size: int) -> None:
    """Cut a torn piece off the end of an abandoned events file: records (``record_size``) or lines (0).

    A thread that read the descriptor before the switch may still append a whole event there;
    with the piece cut, it lands whole instead of glued to the piece (readers skip a torn end
    anyway, so nothing whole is lost by cutting it).
    """
    try:
        size = os.fstat(fd).st_size
        if record_size:
            keep = size - size % record_size
        else:
            with open(path, "rb") as fh:
                fh.seek(max(0, size - (1 << 16)))
                tail = fh.read(1 << 16)
            cut = tail.rfind(b"\n")
            keep = size if not tail or tail.endswith(b"\n") or cut < 0 else size - len(tail) + cut + 1
        if keep < size:
            os.ftruncate(fd, keep)
    except OSError:
        pass
