"""Driver-log naming, and the records logged while no run is active.

**Which driver log a process writes** (:func:`driver_log_name_for`, the one place
this rule lives; :func:`driver_log_name` applies it to this process, and the
supervisor to the captured stdout/stderr of submitted scripts):

- a process with ``RANK`` in its environment and ``WORLD_SIZE`` > 1 (torchrun,
  DeepSpeed, MPI launchers): ``logs/driver_log_rank_<RANK>.txt``;
- the process that created the run, or a process of a submitted script (it found
  the run through ``RUNLOG_RUN_ID`` and its output is captured into the driver log,
  ``RUNLOG_OUTPUT_CAPTURED=1``; processes it forks share that captured output):
  ``logs/driver_log.txt``;
- any other process logging into the run (forked or spawned workers):
  ``logs/driver_log_<pid>.txt``.

**Records logged while no run is active** go to a bounded buffer of this process
(the last :data:`PENDING_LIMIT` records; older ones are counted and dropped).
When a run starts in this process (or the first record arrives after a run
became active), the buffer is written to that run's driver log after a header
line saying how many records it holds and how many were dropped; their tagged
metrics are stored then, timestamped at that moment. What is still buffered at
interpreter exit is reported by a WARNING on ``runlog.stdlib``.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from .._diagnostics import SYSTEM_LOG, get_logger
from .._store import layout

if TYPE_CHECKING:
    from .._model.run import Run
    from .._store.writer import RunWriter

__all__ = [
    "ENV_OUTPUT_CAPTURED",
    "NO_SINK",
    "Sink",
    "ThreadState",
    "PENDING_LIMIT",
    "defer",
    "drain_deferred",
    "driver_log_name",
    "driver_log_name_for",
    "format_utc",
    "format_utc_ns",
    "is_main_process",
    "thread_state",
    "utc_second",
]

ENV_OUTPUT_CAPTURED = "RUNLOG_OUTPUT_CAPTURED"
structlog_used = False  # set by runlog.structlog.RunProcessor: RunHandler then checks for its events
# Whether RunHandler marks each record it writes (``record._runlog_written``: a new key in every
# record's dict, about 0.2 us a record) and looks for the mark: only while another of runlog's
# writers may see the same record (another RunHandler, a RunProcessor, a RunLogExporter not shut
# down). Set again whenever one of them is made, shut down or collected, under a lock.
mark_written = False
# Every RunHandler alive, closed ones too (a closed handler still attached to a logger still writes;
# their sinks are dropped in a forked child), and the RunProcessors and RunLogExporters alive.
run_handlers: weakref.WeakSet[Any] = weakref.WeakSet()
_mark_readers: weakref.WeakSet[Any] = weakref.WeakSet()
# Re-entrant: a writer collected (its finalizer runs update_mark_written) while this thread holds it.
_marking_lock = threading.RLock()


def add_run_handler(handler: Any) -> None:
    """A RunHandler was made: with another one alive, each marks what it writes (until one is collected)."""
    with _marking_lock:
        run_handlers.add(handler)
        _set_mark_written()
    _on_collect(handler)


def add_mark_reader(reader: Any) -> None:
    """``reader`` (a RunProcessor, a RunLogExporter) skips records marked ``_runlog_written``: mark them."""
    with _marking_lock:
        _mark_readers.add(reader)
        _set_mark_written()
    _on_collect(reader)


def _on_collect(writer: Any) -> None:
    # When ``writer`` is collected, the others may stop marking: a program that once had a second
    # RunHandler (dictConfig run again, a library's own) does not pay for it ever after.
    weakref.finalize(writer, update_mark_written).atexit = False


def update_mark_written() -> None:
    """Set :data:`mark_written` from what exists now (a reader with ``_shutdown`` true no longer counts)."""
    with _marking_lock:
        _set_mark_written()


def _set_mark_written() -> None:
    global mark_written
    # list(): the writers alive (a writer being collected is skipped though its entry may not be removed yet).
    mark_written = len(list(run_handlers)) > 1 or any(not getattr(r, "_shutdown", False) for r in list(_mark_readers))


current_pid = os.getpid()  # kept up to date in forked children (cheaper than a getpid() per record)
PENDING_LIMIT = 1000
_DEFER_LIMIT = 100  # records kept per thread while it is busy

_log = get_logger("runlog.stdlib")


class ThreadState(threading.local):
    """Per-thread state of runlog's log producers.

    ``busy`` is set while this thread writes a log line through the store: a record
    logged meanwhile (by the writer, a ``__del__``, a signal handler) is deferred to
    ``deferred`` and written right after, never re-entering the writer.
    ``written_msg``/``written_created`` name the message object (a structlog event
    dict, or a record's msg with its creation time) that ``runlog.structlog`` has just
    written, so that a RunHandler seeing the same record does not write it twice.
    """

    busy = False
    draining = False
    deferred: list[tuple[Any, Any]] | None = None
    written_msg: object = None
    written_created: float | None = None


thread_state = ThreadState()


def defer(tls: ThreadState, handler: Any, item: Any) -> None:
    """Keep ``item`` (bounded) for :func:`drain_deferred`, which calls ``handler.emit(item)`` once this
    thread is no longer busy (a record logged while the thread wrote or formatted another)."""
    deferred = tls.deferred
    if deferred is None:
        deferred = tls.deferred = []
    if len(deferred) < _DEFER_LIMIT:
        deferred.append((handler, item))


def drain_deferred(tls: ThreadState) -> None:
    """Write the records that were logged while this thread was busy (in bounded rounds)."""
    if tls.busy or tls.draining:
        return
    tls.draining = True
    try:
        for _ in range(5):
            items = tls.deferred
            if not items:
                break
            tls.deferred = None
            for handler, record in items:
                try:
                    handler.emit(record)
                except Exception:
                    pass
    finally:
        tls.draining = False
        tls.deferred = None


def format_utc(created: float) -> str:
    """``2026-11-27T14:28:36.123Z``: the timestamp of runlog's text lines (UTC, milliseconds)."""
    return _time_prefix(created) + f".{int((created % 1) * 1000):03d}Z"


def format_utc_ns(ns: int) -> str:
    """:func:`format_utc` of a time in integer nanoseconds (OpenTelemetry's), without float rounding."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return _time_prefix(seconds) + f".{frac // 1_000_000:03d}Z"


_second_cache: tuple[int, str] = (-1, "")


def utc_second(sec: int) -> str:
    """``2026-11-27T14:28:36``: the whole-second part of :func:`format_utc` (callers cache it per second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def _time_prefix(created: float) -> str:
    global _second_cache
    sec = int(created)
    cached = _second_cache
    if cached[0] != sec:
        cached = _second_cache = (sec, utc_second(sec))
    return cached[1]


def _env_int(name: str, default: str | None = None) -> int | None:
    value = os.environ.get(name, default)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def is_main_process(run: Run) -> bool:
    """True when this process is the one that writes ``logs/driver_log.txt`` of ``run`` (see module doc)."""
    pid = os.getpid()
    if run._owner_pid == pid or run._record.get("pid") == pid:
        return True
    # A submitted script (and what it forks: their stdout lands in the same captured log anyway).
    return run._owner_pid == -1 and os.environ.get(ENV_OUTPUT_CAPTURED) == "1"


def driver_log_name_for(rank: int | None, world_size: int | None, main: bool, pid: int) -> str:
    """The driver log (name in the run's files) of a process with this rank, world size, role and pid.

    The naming rule of the module doc, without reading the environment: used for this
    process by :func:`driver_log_name` and by the supervisor for the processes it starts.
    """
    if rank is not None and world_size is not None and world_size > 1:
        return f"logs/driver_log_rank_{rank}.txt"
    if main:
        return layout.DRIVER_LOG
    return f"logs/driver_log_{pid}.txt"


def driver_log_name(run: Run) -> str:
    """The name (in the run's files) of the driver log this process writes for ``run``."""
    return driver_log_name_for(_env_int("RANK"), _env_int("WORLD_SIZE", "1"), is_main_process(run), os.getpid())


# -- records logged while no run is active ------------------------------------------

# (text with its trailing newline, tagged metrics or None, step)
_pending: deque[tuple[str, Any, Any]] = deque(maxlen=PENDING_LIMIT)
_pending_total = itertools.count()
_pending_seen = 0  # value of the counter at the last flush


# runlog's own diagnostics logged while no run is active (e.g. "created run ..."), for the system log.
_pending_system: deque[str] = deque(maxlen=200)


def add_pending_system(text: str) -> None:
    _pending_system.append(text)


def flush_pending_system(run: Run) -> None:
    entries = []
    while True:
        try:
            entries.append(_pending_system.popleft())
        except IndexError:
            break
    if entries:
        run._writer.write_log("".join(entries), SYSTEM_LOG)


def add_pending(text: str, metrics: Any = None, step: Any = None) -> None:
    """Keep a record logged while no run is active (bounded: the oldest ones are dropped)."""
    next(_pending_total)
    # A copy: the caller may reuse (and change) the same dict for its next record.
    _pending.append((text, dict(metrics) if metrics else None, step))


def has_pending() -> bool:
    return bool(_pending)


def flush_pending(run: Run) -> int:
    """Write the buffered records into ``run``'s driver log; returns how many were written."""
    global _pending_seen, _pending_total
    entries = []
    while True:
        try:
            entries.append(_pending.popleft())
        except IndexError:
            break
    if not entries:
        return 0
    total = next(_pending_total)  # counts this call too
    logged = total - _pending_seen
    _pending_seen = total + 1
    dropped = max(0, logged - len(entries))
    writer = run._writer
    name = driver_log_name(run)
    header = (
        f"{format_utc(time.time())} INFO:runlog:{len(entries)} record(s) logged before run {run.id} was active"
        + (f" ({dropped} older one(s) dropped: the buffer keeps the last {PENDING_LIMIT})" if dropped else "")
        + ":\n"
    )
    tls = thread_state
    was_busy, tls.busy = tls.busy, True
    try:
        writer.write_log(header + "".join(text for text, _, _ in entries), name)
        for _, metrics, step in entries:
            if metrics:
                try:
                    writer.scalars(dict(metrics), step)
                except Exception as exc:
                    _log.warning("a buffered tagged metric record could not be stored in run %s: %s", run.id, exc)
    finally:
        tls.busy = was_busy
    drain_deferred(tls)
    _log.debug("wrote %d buffered record(s) into %s of run %s (%d dropped)", len(entries), name, run.id, dropped)
    return len(entries)


class Sink:
    """Where a RunHandler writes for one run in one process: the run's writer and its descriptor of the driver log."""

    __slots__ = ("fd", "fds", "name", "path", "run", "writer")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.writer: RunWriter = run._writer
        self.name = driver_log_name(run)
        self.path = str(run._dir / "files" / self.name)
        self.fd = -1
        # The writer's dict of open logs when ``fd`` was taken from it: the writer replaces the dict
        # when it closes its files (or in a forked child) and only adds to it otherwise, so while it
        # is the same dict, ``fd`` is still the descriptor of this log (reopen_log keeps its number).
        self.fds: dict[str, int] | None = None

    def open(self) -> int:
        """The writer's descriptor of this log (opened if need be), remembered for the next records."""
        writer = self.writer
        fds = writer._log_fds
        fd = fds.get(self.name, -1)
        if fd < 0:
            fd = writer._open_log(self.name)
            fds = writer._log_fds
        self.fd, self.fds = fd, fds
        return fd


class _NoSink:
    """The sink of a handler that has written nothing yet in this process (its run is no run)."""

    run = None


NO_SINK: Any = _NoSink()


@atexit.register
def _report_pending_at_exit() -> None:
    if _pending:
        _log.warning(
            "%d log record(s) were logged while no runlog run was active and never reached a run; "
            "start the run (experiment.start_logging()) before logging to keep them",
            len(_pending),
        )


def _after_fork_in_child() -> None:
    global _pending_total, _pending_seen, current_pid, _marking_lock
    current_pid = os.getpid()
    _marking_lock = threading.RLock()  # (another thread of the parent may have held it)
    _pending.clear()
    _pending_system.clear()
    _pending_total = itertools.count()
    _pending_seen = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
