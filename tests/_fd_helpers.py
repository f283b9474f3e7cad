"""Writes seen and failures made at the level of file descriptors, for code that calls ``write(2)`` itself.

``RunHandler``'s C ``handle`` (``runlog._capture._hot``) writes with ``write(2)``, not ``os.write``: a
test that counts its writes, or makes one fail, does it under the descriptor, so the same test holds
the C and the Python ``handle`` (and any other writer) alike.

- :func:`recorded_writes`: while inside, each ``write`` on a descriptor is one message of a
  ``SOCK_SEQPACKET`` socket (so one write is one item, whole); afterwards the descriptor is its file
  again and what was written is appended to it (nothing is lost for the test's later reads).
- :func:`failing_writes`: while inside, a write on the descriptor fails as on a full disk
  (``/dev/full``: ``ENOSPC``) or is cut short (a file of the limit's size but a few bytes, under
  ``RLIMIT_FSIZE``: the kernel writes what fits and returns its length).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import tempfile
from collections.abc import Iterator

__all__ = ["failing_writes", "recorded_writes"]

SHORT_BY = 16  # bytes a cut-short write still takes (failing_writes "short write")
_LIMIT = 1 << 30  # RLIMIT_FSIZE while a write is cut short (the stand-in file is sparse: no disk used)


@contextlib.contextmanager
def _standing_in(fd: int, stand_in: int) -> Iterator[None]:
    """``fd`` is ``stand_in``'s file inside; its own file again after, unless the code under test closed or
    reused the number meanwhile (a writer that gave up on a failing file)."""
    saved = os.dup(fd)
    os.dup2(stand_in, fd)
    identity = os.fstat(stand_in)
    try:
        yield
    finally:
        try:
            now = os.fstat(fd)
            ours = (now.st_dev, now.st_ino) == (identity.st_dev, identity.st_ino)
        except OSError:
            ours = False
        if ours:
            os.dup2(saved, fd)
        os.close(saved)


@contextlib.contextmanager
def recorded_writes(*fds: int) -> Iterator[dict[int, list[bytes]]]:
    """The writes made on each of ``fds`` inside (one item per ``write``, in order), filled in on leaving;
    then appended to their files, so what was written is kept."""
    writes: dict[int, list[bytes]] = {fd: [] for fd in fds}
    sockets = []
    try:
        with contextlib.ExitStack() as stack:
            for fd in fds:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                sockets += [ours, theirs]
                ours.setblocking(False)
                stack.enter_context(_standing_in(fd, theirs.fileno()))
            yield writes
            for fd, ours in zip(fds, sockets[::2]):
                while True:
                    try:
                        writes[fd].append(ours.recv(1 << 20))
                    except BlockingIOError:
                        break
        for fd in fds:  # (the files are back)
            for data in writes[fd]:
                os.write(fd, data)
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def failing_writes(fd: int, failure: str) -> Iterator[None]:
    """Writes on ``fd`` inside fail: ``"disk full"`` (``ENOSPC``) or ``"short write"`` (each takes only
    :data:`SHORT_BY` bytes; the next one fails with ``EFBIG``)."""
    if failure == "disk full":
        full = os.open("/dev/full", os.O_WRONLY)
        try:
            with _standing_in(fd, full):
                yield
        finally:
            os.close(full)
        return
    if failure != "short write":
        raise ValueError(f"failure is 'disk full' or 'short write', not {failure!r}")
    with tempfile.TemporaryFile() as fh:
        fh.truncate(_LIMIT - SHORT_BY)
        stand_in = os.open(f"/proc/self/fd/{fh.fileno()}", os.O_WRONLY | os.O_APPEND)
        old_limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (_LIMIT, old_limits[1]))
            with _standing_in(fd, stand_in):
                yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old_limits)
            signal.signal(signal.SIGXFSZ, old_handler)
            os.close(stand_in)
