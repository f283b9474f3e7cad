"""The one writer of a run in this process.

Every producer (the run API, the logging handler, the structlog processor, the
OpenTelemetry exporters, captured output) hands its events to the
:class:`RunWriter` of the run. Each event is one ``os.write`` of one whole line
to a file opened with ``O_APPEND``: once the call has returned, the line is in
the page cache and survives ``kill -9`` of the process, and lines of different
processes or threads never interleave.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import threading
import time
import weakref
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from .._errors import InvalidArgumentError, InvalidMetricValue, StoreError
from . import journal, layout
from .encoding import _encode_str, _plain, encode_scalar, encode_step
from .procfiles import ProcessFiles
from .records import CHECK_BIT, CHECK_MASK, GroupPacker, group_packer, pack_int, pack_point

__all__ = ["POINT_SIZE", "RunWriter", "_encode_str", "encode_scalar", "encode_step", "writer_for"]  # (encoding: re-exported)

_log = logging.getLogger("runlog.store")

_now = time.time
_os_write = os.write
WATCH_SECONDS = 1.0  # how often a writer looks whether its run folder and live logs are still there
_MAX_PACKERS = 256  # groups of names a writer compiles a packer for (RunWriter._pack); others: _pack_known

# A numeric run.log point in <proc>.points.bin: see layout.POINT_SIZE.
POINT_SIZE, NO_STEP, T_FLOAT, T_INT, T_BOOL, T_NONE = (
    layout.POINT_SIZE, layout.NO_STEP, layout.T_FLOAT, layout.T_INT, layout.T_BOOL, layout.T_NONE
)
_pack_float = struct.Struct("<IIdqd").pack
_pack_int = struct.Struct("<IIqqd").pack
_crc32 = zlib.crc32
# RunWriter.scalar spells these as literals (the hot path): they must stay what the format says.
if (CHECK_BIT, CHECK_MASK, NO_STEP, POINT_SIZE, T_FLOAT, T_INT) != (0x80000000, 0xFFFFFF00, -9223372036854775808, 32, 0, 1):
    raise AssertionError("RunWriter.scalar's and _pack_known's literals no longer match the points record format")


class RunWriter(ProcessFiles):
    """Appends a run's events and files for this process (see ``docs/store-format.md``)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.files_dir = run_dir / layout.FILES_DIR
        self._events_dir = run_dir / layout.EVENTS_DIR
        self._lock = threading.RLock()  # re-entrant: a signal handler or __del__ may log while it is held
        self._names: dict[str, str] = {}
        self.described: dict[str, str] = {}  # metric descriptions already written (see Run._describe)
        self._watch_at = 0.0  # when to look again whether the run folder and live logs are still there
        self._watch_from = -WATCH_SECONDS  # (_watch_at - WATCH_SECONDS: a clock set back looks again)
        self._gone_reported = False
        self._replaced_reported: set[str] = set()
        self._reset()
        _all_writers.add(self)

    def _retire_fds(self, fds: list[int]) -> None:
        _retire(fds)

    def _reset(self) -> None:
        """Forget this process's files (called in a forked child, and by close)."""
        self._proc = ""
        self._metrics_fd = -1
        self._points_fd = -1
        self._meta_fd = -1
        self._log_fds: dict[str, int] = {}
        self._forget_ids()
        self._lock = threading.RLock()  # re-entrant: a signal handler or __del__ may log while it is held

    def _forget_ids(self) -> None:
        # The names' ids in this process's points file, and the packers compiled with them (_pack).
        self._ids = {}
        self._packers: dict[tuple[str, ...], GroupPacker] = {}
        self._packer: GroupPacker | None = None  # the last one that packed

    def _pack(self, values: dict[str, Any], st: int, now: float) -> bytes:
        """``_pack_known(self._ids, values, st, now)``: the same bytes, the same KeyError/struct.error.

        The usual caller logs the same names again and again (a tagged record per step): the values
        are packed by a packer compiled for their group of names and classes (``records.group_packer``,
        compiled when the group is first packed, at most ``_MAX_PACKERS``), the last one used tried
        first. (A group met in another order than compiled is packed in the compiled order.)
        """
        packer = self._packer
        if packer is not None:
            try:
                data = packer(values, st, now)
            except KeyError:  # (another group)
                data = None
            if data is not None:
                return data
        return self._pack_other(values, st, now)

    def _pack_other(self, values: dict[str, Any], st: int, now: float) -> bytes:
        """``_pack`` when the last packer did not fit (its caller tried it already)."""
        key = tuple(values)
        packers = self._packers
        packer = packers.get(key)
        if packer is not None:
            data = packer(values, st, now)
            if data is not None:
                self._packer = packer
                return data
        data = _pack_known(self._ids, values, st, now)  # (raises for names not defined, other values)
        if packer is None and data and len(packers) < _MAX_PACKERS:
            ids = self._ids
            kinds = tuple(T_FLOAT if type(v) is float else T_INT for v in values.values())
            packers[key] = self._packer = group_packer(key, tuple(ids[n] for n in key), kinds)
        return data

    # -- events --------------------------------------------------------------

    def _name(self, name: str) -> str:
        encoded = self._names.get(name)
        if encoded is None:
            if not isinstance(name, str) or not name:
                raise InvalidMetricValue(
                    f"a metric name must be a non-empty str; got {name!r} of type {type(name).__name__}",
                    name=None,
                )
            encoded = self._names[name] = _encode_str(name)
        return encoded

    def _id(self, name: str) -> int:
        """The id of ``name`` in this process's points file, defined (one ``n`` line) on first use.

        The definition is written to the metrics file before the id is handed out, so a
        reader that finds a point in the points file finds its name in the metrics file.
        """
        if self._metrics_fd < 0:
            self._open_metrics()  # outside the lock: it logs at DEBUG (see _open_metrics)
        with self._lock:
            nid = self._ids.get(name)
            if nid is None:
                nid = len(self._ids)
                line = f'["n",{self._name(name)},{nid},null,{_now()!r}]\n'
                fd = self._metrics_fd
                if fd < 0:
                    fd = self._open_metrics()
                self._append(fd, line.encode())
                self._ids[name] = nid
                self._copy_names(line)
            return nid

    def _point(self, name: str, value: Any, step: Any, now: float) -> bytes | None:
        """One points-file record, or None for a value that is stored as a JSON line instead.

        float, int (within int64), bool and None are points; str, bigger ints and any
        other object are JSON lines (``encode_scalar``), as are steps outside int64.
        """
        t = type(value)
        if step is None:
            st = NO_STEP
        elif type(step) is int:
            st = step
        else:
            st = int(encode_step(step, name))  # refuses a bad step with the fix in the message
        if t is not float and t is not int and value is not None and t is not bool:
            value = _plain(value)
            t = type(value)
        if t is float:
            kind = T_FLOAT
        elif t is int:
            if not -(1 << 63) <= value < (1 << 63):
                return None
            kind = T_INT
        elif value is None:
            kind, value = T_NONE, 0
        elif t is bool:
            kind = T_BOOL
        else:
            return None
        if step is not None and not NO_STEP < st < (1 << 63):
            return None  # beyond int64, or the value that means "no step": a JSON line
        nid = self._ids.get(name)
        if nid is None:
            nid = self._id(name)
        return pack_point(nid, kind, value, st, now)

    # -- noticing a removed run folder, a replaced live log -----------------------------

    def _watch(self, now: float) -> None:
        """At most once a second (every call once the folder is gone): is the run folder still there,
        is each live log still the file this process writes? A removed folder raises StoreError
        (reported once as a WARNING); a replaced log is reported once and opened again."""
        gone = not os.path.exists(self.run_dir / layout.RUN_RECORD)
        self._watch_at = now if gone else now + WATCH_SECONDS
        self._watch_from = self._watch_at - WATCH_SECONDS
        if gone:
            message = (
                f"the run folder {self.run_dir} was removed while this process was writing to it; what is "
                f"logged to it from now on is not kept. Start a new run to keep logging"
            )
            if not self._gone_reported:
                self._gone_reported = True
                _log.warning("%s", message)
            raise StoreError(message)
        for name, fd in list(self._log_fds.items()):
            try:
                same = os.fstat(fd).st_ino == os.stat(self.files_dir / name).st_ino
            except OSError:
                continue  # removed (RunHandler opens it again) or closed meanwhile
            if not same:
                if name not in self._replaced_reported:
                    self._replaced_reported.add(name)
                    _log.warning(
                        "the live log %s of run %s was replaced by another file; its next lines go to the new file",
                        name, self.run_dir.name,
                    )
                try:
                    self.reopen_log(name)
                except StoreError:
                    pass

    def scalar(self, name: str, value: Any, step: Any = None, at: float | None = None) -> None:
        """Append one ``run.log`` value (the hot path: one pack, one write); ``at``: its time, if not now."""
        if at is None:
            now = _now()
            if not self._watch_from <= now < self._watch_at:
                self._watch(now)
        else:  # a value kept while the store could not be written, written now with its own time
            now = at
        t = type(value)
        # (literals, not NO_STEP, CHECK_BIT and CHECK_MASK: no global lookups on the hot path)
        if (t is float or t is int) and (step is None or (type(step) is int and step != -9223372036854775808)):
            nid = self._ids.get(name)
            if nid is not None:
                st = -9223372036854775808 if step is None else step
                try:  # (records.pack_float and pack_int, inline)
                    if t is float:
                        record = _pack_float(nid, (_crc32(_pack_float(nid, 0, value, st, now)) | 0x80000000) & 0xFFFFFF00, value, st, now)
                    else:
                        record = _pack_int(nid, 1 | (_crc32(_pack_int(nid, 1, value, st, now)) | 0x80000000) & 0xFFFFFF00, value, st, now)
                except struct.error:
                    record = None
            else:
                record = self._point(name, value, step, now)
        else:
            record = self._point(name, value, step, now)
        if record is not None:
            fd = self._points_fd
            if fd < 0:
                fd = self._open_points()
            try:
                written = _os_write(fd, record)
            except OSError:
                written = 0
            if written != 32:  # (POINT_SIZE) an error or a short write (a full disk): the careful way
                self._append(fd, record[written:], started=written > 0)
            return
        line = f'["s",{self._name(name)},{encode_scalar(value, name)},{encode_step(step, name)},{now!r}]\n'
        fd = self._metrics_fd
        if fd < 0:
            fd = self._open_metrics()
        self._append(fd, line.encode())

    def scalars(self, values: dict[str, Any], step: Any = None, when: float | None = None) -> None:
        """Append several scalars with one write (tagged metric events: this runs per record), timed ``when``
        (a record's creation time; now when None)."""
        now = _now() if when is None else when
        if step is None:
            st = NO_STEP
        elif type(step) is int and step != NO_STEP:
            st = step
        else:
            self._scalars(values, step, now)
            return
        try:  # floats and ints of names seen before: the usual case
            data = self._pack(values, st, now)
        except (KeyError, struct.error):
            self._scalars(values, step, now)
            return
        if data:
            self._write_data(data)

    def scalar_groups(self, groups: list[tuple[dict[str, Any], Any, float]]) -> None:
        """Append the values of several tagged records, each ``(values, step, time)``, in order: one write for
        every run of groups of floats and ints of names seen before with an int (or no) step (an
        exporter's batch); any other group is written by :meth:`scalars`, after the groups before it.
        """
        parts: list[bytes] = []
        for values, step, when in groups:
            if step is None:
                st = NO_STEP
            elif type(step) is int and step != NO_STEP:
                st = step
            else:
                st = None
            data = b""
            if st is not None:
                try:
                    data = self._pack(values, st, when)
                except (KeyError, struct.error):
                    st = None
            if st is None:
                self._write_points(parts)
                parts = []
                self.scalars(values, step, when)  # new names, other types or steps: the careful way
            elif data:
                parts.append(data)
        self._write_points(parts)

    def _write_points(self, parts: list[bytes]) -> None:
        if parts:
            self._write_data(b"".join(parts))

    def _write_data(self, data: bytes) -> None:
        """Append whole points records in one write (a short write: the careful way, see ``_append``)."""
        fd = self._points_fd
        if fd < 0:
            fd = self._open_points()
        try:
            n_written = _os_write(fd, data)
        except OSError:
            n_written = 0
        if n_written != len(data):
            self._append(fd, data[n_written:], started=n_written > 0)

    def _scalars(self, values: dict[str, Any], step: Any, now: float) -> None:
        """``scalars`` for any values: new names, other types (JSON lines), unusual steps."""
        encode_step(step)  # refuses a bad step before anything is written
        self.points([(n, v, step, now) for n, v in values.items()])

    def points(self, points: Iterable[tuple[str, Any, Any, float]]) -> None:
        """Append ``(name, value, step, time)`` values, each with its own time (an MLflow client's
        timestamps): the points in one write, any value that is not a point in one JSON-lines write."""
        records = []
        lines = []
        for n, v, step, when in points:
            record = self._point(n, v, step, when)
            if record is not None:
                records.append(record)
            else:
                lines.append(f'["s",{self._name(n)},{encode_scalar(v, n)},{encode_step(step, n)},{when!r}]\n')
        if records:
            self._write_data(b"".join(records))
        if lines:
            fd = self._metrics_fd
            if fd < 0:
                fd = self._open_metrics()
            self._append(fd, "".join(lines).encode())

    def metric(self, kind: str, name: str, value_json: str, step: Any = None, at: float | None = None) -> None:
        """Append a metric event of any kind whose value is already JSON text (``at``: its time, if not now)."""
        if at is None:
            now = _now()
            if not self._watch_from <= now < self._watch_at:
                self._watch(now)
        else:  # a value kept while the store could not be written, written now with its own time
            now = at
        line = f'["{kind}",{self._name(name)},{value_json},{encode_step(step, name)},{now!r}]\n'
        fd = self._metrics_fd
        if fd < 0:
            fd = self._open_metrics()
        self._append(fd, line.encode())

    def meta(self, kind: str, key: str | None, value: Any = None, *, keep_open: bool = True) -> None:
        """Append a status, tag, property or description event.

        ``keep_open=False`` (a run that has ended, or one this process only looks at):
        the file is closed again unless this process had it open already, so that
        tagging many such runs in one process keeps no descriptor per run.
        """
        now = _now()
        if not self._watch_from <= now < self._watch_at:
            self._watch(now)
        line = json.dumps([kind, key, value, None, now], ensure_ascii=True, default=repr) + "\n"
        fd = self._meta_fd
        if fd >= 0 or keep_open:
            if fd < 0:
                fd = self._open_meta()
            self._append(fd, line.encode())
        else:
            fd = self._open(self._events_dir / (self._proc_id() + layout.META_SUFFIX))
            try:
                self._append(fd, line.encode())
            finally:
                os.close(fd)
        self.touch()

    def touch(self) -> None:
        """Mark the run changed for the run index (its events folder's time): status, tags, late writes.

        Appends do not change a folder's time; the index trusts an ended run's row while that time stays
        the same (``runlog._store.index``), so every meta event, and anything written into a run this
        process does not own, touches the folder and names the run in the store's change journal
        (``runlog._store.journal``). Never on the ``run.log`` path.
        """
        try:
            os.utime(self._events_dir)
        except OSError:
            pass
        journal.note(self._events_dir.parent)

    # -- logs and files -----------------------------------------------------------

    def write_log(self, text: str, name: str = layout.DRIVER_LOG) -> None:
        """Append ``text`` (whole lines) to a log file of the run, in one write."""
        now = _now()
        if not self._watch_from <= now < self._watch_at:
            self._watch(now)
        fd = self._log_fds.get(name, -1)
        if fd < 0:
            fd = self._open_log(name)
        try:
            data = text.encode()
        except UnicodeEncodeError:  # lone surrogates
            data = text.encode("utf-8", "backslashreplace")
        try:
            n = _os_write(fd, data)
        except OSError:
            n = 0
        if n != len(data):
            self._write(fd, data[n:])  # the rest of a short write; raises StoreError saying what to do

    def reopen_log(self, name: str) -> bool:
        """Open log ``name`` again after its file was removed; False when it was not open.

        The new file takes the old descriptor's number (``dup2``), so a thread writing
        at that moment never writes to a closed or reused descriptor. Raises
        :class:`StoreError` when the run's folder itself is gone (it is not recreated).
        """
        with self._lock:
            old = self._log_fds.get(name, -1)
            if old < 0:
                return False
            if not (self.run_dir / layout.RUN_RECORD).exists():
                raise StoreError(
                    f"the run folder {self.run_dir} was removed; its logs are no longer kept. "
                    f"Start a new run to keep logging"
                )
            new = self._open(self.files_dir / layout.check_file_name(name))
            try:
                os.dup2(new, old, inheritable=False)
            finally:
                os.close(new)
        return True

    def add_file(self, name: str, source: str | os.PathLike[str] | IO[bytes] | IO[str]) -> str:
        """Copy a file (a path or an open stream) into the run as ``name``; return the name."""
        name = self.check_upload_name(name)
        target = self.files_dir / name
        self._check_run_dir()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with layout.temp_file(target.parent, ".upload-") as (fd, tmp):
                with os.fdopen(fd, "wb") as out:
                    if isinstance(source, (str, os.PathLike)):
                        with open(source, "rb") as src:
                            shutil.copyfileobj(src, out, 1 << 20)
                    else:
                        while chunk := source.read(1 << 20):
                            out.write(chunk.encode() if isinstance(chunk, str) else chunk)
                os.replace(tmp, target)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"cannot upload {source!r} as {name!r}: no such file; pass an existing path or an open stream"
            ) from exc
        except IsADirectoryError as exc:
            raise IsADirectoryError(f"{source!r} is a folder: use run.upload_folder(name, path) for folders") from exc
        except StoreError:
            raise
        except OSError as exc:
            if isinstance(source, (str, os.PathLike)) and exc.filename is not None and os.fspath(exc.filename) == os.fspath(source):
                raise  # the source cannot be read: the OS error names it
            raise StoreError(
                f"cannot store {name!r} in run {self.run_dir.name} at {target} ({exc.strerror or exc}); free disk "
                f"space or make the store writable, then upload again"
            ) from exc
        _log.debug("stored file %s in run %s", name, self.run_dir.name)
        return name

    def check_upload_name(self, name: str) -> str:
        """``name`` checked (``layout.check_file_name``) and refused when it is a live log of the run:
        one this process writes, or a driver log that exists (replacing it would lose every later line)."""
        name = layout.check_file_name(name)
        live = name in self._log_fds or (
            name.startswith(layout.LOGS_PREFIX + "driver_log") and (self.files_dir / name).exists()
        )
        if live:
            raise InvalidArgumentError(
                f"{name!r} is a live log of run {self.run_dir.name}: uploading over it would lose every line logged "
                f"after. Upload under another name, e.g. 'outputs/{name.rsplit('/', 1)[-1]}'",
                argument="name",
            )
        return name

    def add_files(self, pairs: Iterable[tuple[str, Path]]) -> list[str]:
        return [self.add_file(name, path) for name, path in pairs]


# Descriptors of closed writers, with when they were retired (see RunWriter.close). They are
# closed at a later close(), once RETIRE_SECONDS have passed (a write that read a descriptor just
# before its close has long landed by then), or sooner when more than RETIRE_MAX are waiting.
RETIRE_SECONDS = 10.0
RETIRE_MAX = 256
_retired: list[tuple[float, int]] = []
_retired_lock = threading.Lock()


def _retire(fds: list[int]) -> None:
    now = time.monotonic()
    with _retired_lock:
        _retired.extend((now, fd) for fd in fds)
        due = 0
        while due < len(_retired) and (now - _retired[due][0] >= RETIRE_SECONDS or len(_retired) - due > RETIRE_MAX):
            due += 1
        old = [fd for _, fd in _retired[:due]]
        del _retired[:due]
    for fd in old:
        try:
            os.close(fd)
        except OSError:
            pass


def _pack_known(ids: dict[str, int], values: dict[str, Any], st: int, now: float) -> bytes:
    """The points records of floats and ints of names this process defined already; KeyError for any other
    value or name, struct.error for a number beyond 64 bits (the caller then takes the careful way)."""
    data = b""
    for n, v in values.items():
        t = type(v)
        if t is float:  # (records.pack_float inline, with the format's literals: one Python call less per value)
            nid = ids[n]
            data += _pack_float(nid, (_crc32(_pack_float(nid, 0, v, st, now)) | 0x80000000) & 0xFFFFFF00, v, st, now)
        elif t is int:
            data += pack_int(ids[n], T_INT, v, st, now)
        else:
            raise KeyError(n)
    return data


_all_writers: weakref.WeakSet[RunWriter] = weakref.WeakSet()
_writers: dict[str, RunWriter] = {}
_writers_lock = threading.Lock()


def writer_for(run_dir: Path) -> RunWriter:
    """The one writer of ``run_dir`` in this process."""
    key = str(run_dir)
    writer = _writers.get(key)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(key)
            if writer is None:
                writer = _writers[key] = RunWriter(run_dir)
    return writer


def _after_fork_in_child() -> None:
    # A forked child writes to files of its own: new names, new descriptors.
    global _writers_lock, _retired_lock
    _writers_lock = threading.Lock()
    _retired_lock = threading.Lock()
    for writer in list(_all_writers):
        writer._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
