"""The store's change journal: which runs changed since a reader last looked, without a ``stat`` per run.

Every event that can change a run's row in a runs table — a status, tag, property or name event, a run
created, anything written into a run its process does not own — is followed by one line
``<experiment>/<run id>\\n`` appended to ``<store>/changes.log`` (one ``O_APPEND`` write: lines of
several processes never interleave). Metric appends are not journaled (``run.log`` stays one write);
a running run is checked by its files whatever the journal says.

The run index (:mod:`runlog._store.index`) remembers how far it has read (the file's inode and
offset, kept in the index database too); an ended run absent from the journal since then is
served from the index unchecked. A journal that cannot be read, was replaced or shrank makes the
index check every run as before (one ``stat`` each), so the journal is an accelerator, never the
truth: losing it (or a line, to ``kill -9`` between an event and its line) costs at most one stale
row until that run changes again or the journal is replaced.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["JOURNAL_FILE", "Position", "note", "read_since", "start"]

JOURNAL_FILE = "changes.log"
#: Beyond this size the next writer starts the journal anew (readers then check every run once).
MAX_BYTES = 64 * 1024 * 1024

Position = tuple[int, int]  # (inode, offset)

_fds: dict[str, int] = {}
_lock = threading.Lock()


def _store_of(run_dir: Path) -> tuple[Path, str]:
    """The store and the run's key from a run folder ``<store>/experiments/<exp>/runs/<id>``."""
    return run_dir.parent.parent.parent.parent, f"{run_dir.parent.parent.name}/{run_dir.name}"


def _fd(path: str) -> int:
    fd = _fds.get(path, -1)
    if fd < 0:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        _fds[path] = fd
    return fd


def note(run_dir: Path) -> None:
    """Append the run's key to its store's journal (never raises: a missed line only costs a ``stat``)."""
    store, key = _store_of(run_dir)
    path = os.path.join(store, JOURNAL_FILE)
    line = (key + "\n").encode("utf-8", "backslashreplace")
    try:
        with _lock:
            fd = _fd(path)
            st = os.fstat(fd)
            try:
                replaced = os.stat(path).st_ino != st.st_ino  # removed, or started anew by another process
            except FileNotFoundError:
                replaced = True
            if replaced:
                os.close(fd)
                del _fds[path]
                fd = _fd(path)
            elif st.st_size > MAX_BYTES:
                _rotate(path, fd)
                fd = _fd(path)
            os.write(fd, line)
    except OSError:
        _fds.pop(path, None)


def start(store: Path) -> bool:
    """Make an empty journal in a store that has none (an older store); False when it cannot be made."""
    try:
        os.close(os.open(store / JOURNAL_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666))
        return True
    except OSError:
        return False


def _rotate(path: str, fd: int) -> None:
    """Start the journal anew (a new inode: readers see the change and check every run once)."""
    os.close(fd)
    del _fds[path]
    try:
        os.replace(path, path + ".old")
    except OSError:
        pass


def read_since(store: Path, position: Position | None) -> tuple[dict[str, int] | None, Position | None]:
    """``({run key: end offset of its last line}, the new position)`` for the journal after ``position``.

    ``None`` keys: what changed cannot be told (no position, the journal missing, replaced or
    shrunk): check every run. ``None`` position: there is no journal to follow.
    """
    path = store / JOURNAL_FILE
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            inode, size = st.st_ino, st.st_size
            if position is None or position[0] != inode or position[1] > size:
                return None, (inode, size)
            fh.seek(position[1])
            data = fh.read(size - position[1])
    except OSError:
        return None, None
    end = data.rfind(b"\n") + 1  # a line being written is read next time
    keys: dict[str, int] = {}
    offset = position[1]
    for line in data[:end].split(b"\n")[:-1]:
        offset += len(line) + 1
        if line:
            keys[line.decode("utf-8", "replace")] = offset
    return keys, (inode, position[1] + end)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the fds stay valid in the child (O_APPEND: its lines are whole too)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
