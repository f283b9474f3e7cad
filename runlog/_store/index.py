"""The run index: a derived, rebuildable summary of every run of a store, in SQLite.

The run folders stay the source of truth. The index (``<store>/index.sqlite3``) keeps, per run,
what a runs table or a search needs (the row: status, times, name, tags, params, last metric
values) and a *signature* of the run's events files (their names and sizes): a run whose signature
is unchanged is served from the index without reading its files; any other run is read again and
its row replaced. So the index is never trusted beyond what it can check cheaply, several
processes may refresh it at once (SQLite's locking; each row is replaced whole), a process killed
mid-refresh leaves it consistent (SQLite's journal), and a damaged or deleted index is rebuilt from
the runs. Writers never touch it: ``run.log`` costs what it did.

Why SQLite: one file, in the standard library, concurrent readers, atomic replacement of rows,
and it survives ``kill -9``; see ``docs/architecture.md``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import layout

__all__ = ["INDEX_FILE", "RunIndex"]

INDEX_FILE = "index.sqlite3"
SCHEMA_VERSION = 2
_log = logging.getLogger("runlog.store")


def signature(run_dir: Path) -> str:
    """The names and sizes of a run's events files (appends change it; an unchanged run keeps it)."""
    parts = []
    try:
        with os.scandir(run_dir / layout.EVENTS_DIR) as entries:
            for entry in entries:
                try:
                    parts.append(f"{entry.name}:{entry.stat().st_size}")
                except OSError:
                    continue
    except (FileNotFoundError, NotADirectoryError):
        return ""
    parts.sort()
    return "|".join(parts)


def quick_signature(run_dir: Path) -> str:
    """The time of a run's events folder: what an ended run's row is checked by (writers touch it on every
    status or tag event and on writes into a run they do not own: ``RunWriter.touch``)."""
    try:
        return f"d:{os.stat(os.path.join(run_dir, layout.EVENTS_DIR)).st_mtime_ns}"
    except OSError:
        return ""


def _current(run_dir: Path, stored_signature: str) -> str:
    """The run's signature of the same kind as one stored."""
    return quick_signature(run_dir) if stored_signature.startswith("d:") else signature(run_dir)


class RunIndex:
    """Rows of every run of a store, kept in ``<store>/index.sqlite3`` and checked against the runs on use.

    ``rows(build)`` returns one row (whatever ``build(run_dir)`` makes, stored as JSON) per run folder:
    from the index when the run's signature is unchanged, else built again and stored.
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = store / INDEX_FILE
        self._lock = threading.Lock()
        self._memory: dict[str, tuple[str, Any]] = {}  # this process's copy: key -> (signature, row)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, signature TEXT, row TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            found = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if found is None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif found[0] != str(SCHEMA_VERSION):
                db.execute("DELETE FROM runs")  # another layout of rows: rebuilt from the runs
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection | None:
        """The index database; a damaged one is removed and made anew; None when it cannot be had."""
        for attempt in (1, 2):
            try:
                return self._connect()
            except sqlite3.OperationalError:  # cannot open (a read-only store) or locked: no index this time
                break
            except sqlite3.DatabaseError as exc:  # not a database any more: made anew from the runs
                if attempt == 2:
                    break
                _log.warning("the run index %s is damaged (%s): rebuilding it from the runs", self.path, exc)
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.unlink(f"{self.path}{suffix}")
                    except OSError:
                        pass
            except OSError:
                break
        _log.debug("no run index for %s (read-only or locked): reading the runs", self.store)
        return None

    def rows(
        self,
        run_dirs: Iterable[Path],
        build: Callable[[Path], Any],
        encode: Callable[[Any], str] = json.dumps,
        decode: Callable[[str], Any] = json.loads,
        progress: Callable[[int, int], None] | None = None,
        keep: Callable[[Any], bool] | None = None,
        settled: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """One row per run folder, built only for runs new or changed since they were indexed (``build``
        returning None: not a run, no row).

        ``keep(row)`` False: the row is returned but not remembered (built again next time).
        ``settled(row)`` True (an ended run): the row is checked by its events folder's time only (one
        ``stat``), not by the sizes of every events file.
        """
        with self._lock:
            return self._rows(list(run_dirs), build, encode, decode, progress, keep, settled)

    def _rows(
        self,
        run_dirs: list[Path],
        build: Callable[[Path], Any],
        encode: Callable[[Any], str],
        decode: Callable[[str], Any],
        progress: Callable[[int, int], None] | None,
        keep: Callable[[Any], bool] | None,
        settled: Callable[[Any], bool] | None,
    ) -> list[Any]:
        scanned = {d.parent.parent.name for d in run_dirs}  # experiments whose every run is listed
        entries = []  # (key, run folder, signature); rows served from this process's copy where it is current
        rows: list[Any] = [None] * len(run_dirs)
        misses = []
        for position, run_dir in enumerate(run_dirs):
            key = f"{run_dir.parent.parent.name}/{run_dir.name}"
            entries.append(key)
            cached = self._memory.get(key)
            if cached is not None and cached[0] == _current(run_dir, cached[0]):
                rows[position] = cached[1]
            else:
                misses.append((position, key, run_dir))
        keys = set(entries)
        stale_memory = [k for k in self._memory if k not in keys and k.split("/", 1)[0] in scanned]
        for key in stale_memory:
            del self._memory[key]  # a run folder removed
        if not misses and not stale_memory:  # the usual refresh of a viewer: no file read, no database
            return rows  # every position filled
        db = self._open()
        stored: dict[str, tuple[str, str]] = {}
        if db is not None:
            try:
                stored = {k: (s, r) for k, s, r in db.execute("SELECT key, signature, row FROM runs")}
            except sqlite3.DatabaseError as exc:
                _log.warning("could not read the run index %s (%s): reading the runs", self.path, exc)
        changed: list[tuple[str, str, str]] = []
        for done, (position, key, run_dir) in enumerate(misses):
            found = stored.get(key)
            row = None
            sig = ""
            if found is not None and found[0] and found[0] == _current(run_dir, found[0]):
                try:
                    row = decode(found[1])
                    sig = found[0]
                except (ValueError, TypeError, KeyError):
                    row = None  # a damaged row: built again
            if row is None:
                # Both signatures before the read: a change made while it reads shows as a change next time.
                quick, full = quick_signature(run_dir), signature(run_dir)
                row = build(run_dir)
                if row is None:  # not a run: no row
                    continue
                sig = quick if settled is not None and settled(row) and quick else full
                if progress is not None:
                    progress(done + 1, len(misses))
                if keep is not None and not keep(row):
                    self._memory.pop(key, None)
                    rows[position] = row
                    continue
                changed.append((key, sig, encode(row)))
            self._memory[key] = (sig, row)
            rows[position] = row
        if db is not None:
            gone = [(k,) for k in stored if k not in keys and k.split("/", 1)[0] in scanned]
            try:
                if changed or gone:
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        db.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)", changed)
                        db.executemany("DELETE FROM runs WHERE key = ?", gone)
                        db.execute("COMMIT")
                    except BaseException:
                        db.execute("ROLLBACK")
                        raise
            except sqlite3.DatabaseError as exc:  # (locked by a long writer, a full disk): the rows are still right
                _log.debug("could not update the run index %s: %s", self.path, exc)
            finally:
                db.close()
        return [row for row in rows if row is not None]
