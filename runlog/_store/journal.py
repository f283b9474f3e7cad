"""The store's change journal: which runs changed since a reader last looked, without a ``stat`` per run.

Every event that can change a run's row in a runs table — a status, tag, property or name event, a run
created, anything written into a run its process does not own — is followed by one line
``<experiment>/<run id>\\n`` appended to ``<store>/changes.log`` (one ``O_APPEND`` write: lines of
several processes never interleave). Metric appends are not journaled (``run.log`` stays one write);
a running run is checked by its files whatever the journal says.

The journal's first line is ``#<random id>``, written before the file appears under its name
(a temporary file linked into place), so a journal removed and made anew is never taken for the
old one (an inode number may be reused). The run index (:mod:`runlog._store.index`) remembers
how far it has read (the journal's id and an offset, kept with each row in the index database); an ended run absent from the journal since then is
served from the index unchecked. A journal that cannot be read, was replaced or shrank makes the
index check every run as before (one ``stat`` each), so the journal is an accelerator, never the
truth: losing it (or a line, to ``kill -9`` between an event and its line) costs at most one stale
row until that run changes again or the journal is replaced.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

__all__ = ["JOURNAL_FILE", "Position", "note", "read_since", "start"]

JOURNAL_FILE = "changes.log"
#: Beyond this size the next writer starts the journal anew (readers then check every run once).
MAX_BYTES = 64 * 1024 * 1024

Position = tuple[str, int]  # (the journal's id, offset)

_fds: dict[str, int] = {}
_lock = threading.Lock()


def _store_of(run_dir: Path) -> tuple[Path, str]:
    """The store and the run's key from a run folder ``<store>/experiments/<exp>/runs/<id>``."""
    return run_dir.parent.parent.parent.parent, f"{run_dir.parent.parent.name}/{run_dir.name}"


def _create(path: str) -> None:
    """Put a journal with a new id in place unless one is there (a linked temporary file: whole or absent)."""
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, f"#{secrets.token_hex(8)}\n".encode())
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def _fd(path: str) -> int:
    fd = _fds.get(path, -1)
    if fd < 0:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            _create(path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
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
                here = os.stat(path)  # removed, or started anew by another process: follow the new one
                replaced = (here.st_ino, here.st_dev) != (st.st_ino, st.st_dev)
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
    """Make a journal in a store that has none (an older store); False when it cannot be made."""
    path = os.path.join(store, JOURNAL_FILE)
    try:
        if not os.path.exists(path):
            _create(path)
        return True
    except OSError:
        return False


def _rotate(path: str, fd: int) -> None:
    """Start the journal anew (a new id: readers see the change and check every run once)."""
    os.close(fd)
    del _fds[path]
    try:
        os.replace(path, path + ".old")
    except OSError:
        pass


def read_since(store: Path, position: Position | None) -> tuple[dict[str, int] | None, Position | None]:
    """``({run key: end offset of its last line}, the new position)`` for the journal after ``position``.

    ``None`` keys: what changed cannot be told (no position, or another journal than the position's:
    replaced, or shrunk); read it again from offset 0. ``None`` position: there is no journal.
    """
    path = store / JOURNAL_FILE
    try:
        with open(path, "rb") as fh:
            header = fh.readline(64)
            ident = header.decode("ascii", "replace").strip()
            size = os.fstat(fh.fileno()).st_size
            if position is None or position[0] != ident or position[1] > size:
                return None, (ident, size)
            start = max(position[1], len(header))
            fh.seek(start)
            data = fh.read(size - start)
    except OSError:
        return None, None
    end = data.rfind(b"\n") + 1  # a line being written is read next time
    keys: dict[str, int] = {}
    offset = start
    for line in data[:end].split(b"\n")[:-1]:
        offset += len(line) + 1
        if line and not line.startswith(b"#"):
            keys[line.decode("utf-8", "replace")] = offset
    return keys, (ident, start + end)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the fds stay valid in the child (O_APPEND: its lines are whole too)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
