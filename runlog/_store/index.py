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

An ended run is checked by one ``stat`` of its events folder, and not even that while the store's
change journal (:mod:`runlog._store.journal`) names it nowhere after the row was checked: each row
keeps the journal offset it was checked at. So a warm search of 100,000 ended runs reads one small
file instead of making 100,000 ``stat`` calls.
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

from . import journal, layout

__all__ = ["INDEX_FILE", "RunIndex"]

INDEX_FILE = "index.sqlite3"
SCHEMA_VERSION = 3
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
    from the index when the run is unchanged (by the journal or its signature), else built again and stored.
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = store / INDEX_FILE
        self._lock = threading.Lock()
        # This process's copy: key -> (signature, row, journal id, journal offset when checked).
        self._memory: dict[str, tuple[str, Any, str, int]] = {}
        self._journal = ""  # the id of the journal followed ("": none)
        self._read_to = -1
        self._seen: dict[str, int] = {}  # run key -> end offset of its last journal line
        # The last answer: (journal id, the run folders, their rows, key -> position, positions of
        # rows not ended or not kept): the next call with the same folders checks only what changed.
        self._last: tuple[str, list[tuple[str, Path]], list[Any], dict[str, int], list[int]] | None = None
        self._result: list[Any] | None = None
        #: Answers computed from ``_result`` (search: filter and order), valid while it is the same list.
        self.memo: dict[Any, tuple[list[Any], Any]] = {}

    def forget(self) -> None:
        """Drop this process's copy (rows, journal position): the next call reads as a new process would."""
        with self._lock:
            self._memory.clear()
            self._last = None
            self._result = None
            self._journal, self._read_to, self._seen = "", -1, {}

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            found = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if found is not None and found[0] != str(SCHEMA_VERSION):
                db.execute("DROP TABLE IF EXISTS runs")  # another layout of rows: rebuilt from the runs
            db.execute(
                "CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, signature TEXT, row TEXT, "
                "journal TEXT, checked INTEGER)"
            )
            if found is None or found[0] != str(SCHEMA_VERSION):
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
        run_dirs: Iterable[Path | tuple[str, Path]],
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
        refs = list(run_dirs)
        if refs and not isinstance(refs[0], tuple):
            refs = [d if isinstance(d, tuple) else (f"{d.parent.parent.name}/{d.name}", d) for d in refs]
        with self._lock:
            return self._rows(refs, build, encode, decode, progress, keep, settled)  # type: ignore[arg-type]

    def _follow(self) -> tuple[int, dict[str, int] | None]:
        """Read the journal's new lines into ``_seen``: ``(offset read to, the keys read now)``.

        ``_seen`` always covers the current journal file from its start, so a journal removed and made
        anew still names what changed since. The keys are None when the file is not the one followed so
        far (a first call, or the journal replaced): then every run is checked.
        """
        position = (self._journal, self._read_to) if self._journal else None
        keys, new = journal.read_since(self.store, position)
        if new is None and journal.start(self.store):  # from now on writers name what they change
            keys, new = journal.read_since(self.store, position)
        if new is None:  # no journal: every ended run is checked by its stat
            self._journal, self._read_to, self._seen = "", -1, {}
            return -1, None
        if keys is None:  # another file than the one followed: read it whole
            keys, new = journal.read_since(self.store, (new[0], 0))
            if keys is None or new is None:
                self._journal, self._read_to, self._seen = "", -1, {}
                return -1, None
            self._journal, self._read_to, self._seen = new[0], new[1], dict(keys)
            return new[1], None
        self._seen.update(keys)
        self._read_to = new[1]
        return new[1], keys

    def _changed(self, key: str, journal_id: str, checked: int) -> bool:
        """The journal names the run after its row was checked (or names it at all in a newer journal file)."""
        seen = self._seen.get(key)
        return seen is not None and (journal_id != self._journal or seen > checked)

    def _trusted(self, key: str, sig: str, journal_id: str, checked: int) -> bool:
        """An ended run's row the journal names nowhere after it was checked."""
        return sig.startswith("d:") and bool(self._journal) and journal_id == self._journal and self._seen.get(key, 0) <= checked

    def _rows(
        self,
        run_dirs: list[tuple[str, Path]],
        build: Callable[[Path], Any],
        encode: Callable[[Any], str],
        decode: Callable[[str], Any],
        progress: Callable[[int, int], None] | None,
        keep: Callable[[Any], bool] | None,
        settled: Callable[[Any], bool] | None,
    ) -> list[Any]:
        now, fresh = self._follow()  # before any run is checked: a change after this is in the journal after it
        journal_id = self._journal
        last = self._last
        reuse = last is not None and fresh is not None and last[0] == journal_id and last[1] == run_dirs
        stale: list[str] = []
        if reuse:
            assert last is not None and fresh is not None
            # The same run folders as last time: check only the runs the journal names and the runs that
            # had not ended (their files), not 100,000 rows.
            rows = list(last[2])
            where = last[3]
            todo = sorted(set(last[4]) | {where[k] for k in fresh if k in where})
        else:
            rows = [None] * len(run_dirs)
            todo = list(range(len(run_dirs)))
            where = {key: i for i, (key, _d) in enumerate(run_dirs)}
            scanned = {key.split("/", 1)[0] for key, _ in run_dirs}  # experiments whose every run is listed
            stale = [k for k in self._memory if k not in where and k.split("/", 1)[0] in scanned]
            for key in stale:
                del self._memory[key]  # a run folder removed
        misses = []
        for position in todo:
            key, run_dir = run_dirs[position]
            cached = self._memory.get(key)
            if cached is None or self._changed(key, cached[2], cached[3]):
                rows[position] = None
                misses.append((position, key, run_dir))
            elif self._trusted(key, cached[0], cached[2], cached[3]):
                rows[position] = cached[1]
            elif cached[0] == _current(run_dir, cached[0]):
                rows[position] = cached[1]
                self._memory[key] = (cached[0], cached[1], journal_id, now)
            else:
                rows[position] = None
                misses.append((position, key, run_dir))
        if misses or stale:
            full = last is None or len(misses) > len(run_dirs) // 2  # a first call: the whole database
            now = self._refresh(misses, rows, where, run_dirs, stale, now, full, build, encode, decode, progress, keep, settled)
        # Rows to check every time: runs not ended (their files grow), folders not yet runs, rows not kept.
        memory = self._memory
        unsettled = [i for i in todo if not memory.get(run_dirs[i][0], ("",))[0].startswith("d:")]
        same = last is not None and reuse and all(rows[i] is last[2][i] for i in todo)
        self._last = (journal_id, run_dirs, rows, where, unsettled)
        if same and self._result is not None:
            return self._result  # the very list of last time: callers may keep what they made of it
        self._result = [row for row in rows if row is not None]
        return self._result

    def _refresh(
        self,
        misses: list[tuple[int, str, Path]],
        rows: list[Any],
        where: dict[str, int],
        run_dirs: list[tuple[str, Path]],
        stale: list[str],
        now: int,
        full: bool,
        build: Callable[[Path], Any],
        encode: Callable[[Any], str],
        decode: Callable[[str], Any],
        progress: Callable[[int, int], None] | None,
        keep: Callable[[Any], bool] | None,
        settled: Callable[[Any], bool] | None,
    ) -> int:
        """Rows for ``misses`` from the database (when still current) or built anew; the database updated."""
        journal_id = self._journal
        scanned = {key.split("/", 1)[0] for key, _ in run_dirs}
        db = self._open()
        stored: dict[str, tuple[str, str, str, int]] = {}
        if db is not None:
            try:
                if full:
                    query = db.execute("SELECT key, signature, row, journal, checked FROM runs")
                    stored = {k: (s, r, i, c) for k, s, r, i, c in query}
                else:  # a few runs changed among many: only their rows
                    for start in range(0, len(misses), 500):
                        keys = [m[1] for m in misses[start : start + 500]]
                        query = db.execute(
                            "SELECT key, signature, row, journal, checked FROM runs WHERE key IN "
                            f"({','.join('?' * len(keys))})", keys,
                        )  # fmt: skip
                        stored.update({k: (s, r, i, c) for k, s, r, i, c in query})
            except sqlite3.DatabaseError as exc:
                _log.warning("could not read the run index %s (%s): reading the runs", self.path, exc)
        changed: list[tuple[str, str, str, str, int]] = []
        for done, (position, key, run_dir) in enumerate(misses):
            found = stored.get(key)
            row = None
            sig = ""
            if found is not None and found[0] and not self._changed(key, found[2], found[3]) and (
                self._trusted(key, found[0], found[2], found[3]) or found[0] == _current(run_dir, found[0])
            ):
                try:
                    row = decode(found[1])
                    sig = found[0]
                except (ValueError, TypeError, KeyError):
                    row = None  # a damaged row: built again
            if row is None:
                # Both signatures before the read: a change made while it reads shows as a change next time.
                quick, whole = quick_signature(run_dir), signature(run_dir)
                row = build(run_dir)
                if row is None:  # not a run: no row
                    continue
                sig = quick if settled is not None and settled(row) and quick else whole
                if progress is not None:
                    progress(done + 1, len(misses))
                if keep is not None and not keep(row):
                    self._memory.pop(key, None)
                    rows[position] = row
                    continue
                changed.append((key, sig, encode(row), journal_id, now))
            self._memory[key] = (sig, row, journal_id, now)
            rows[position] = row
        if db is not None:
            if full:
                gone = [(k,) for k in stored if k not in where and k.split("/", 1)[0] in scanned]
            else:  # the runs this process had rows of and no longer finds
                gone = [(k,) for k in stale]
            try:
                if changed or gone:
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        db.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?)", changed)
                        db.executemany("DELETE FROM runs WHERE key = ?", gone)
                        db.execute("COMMIT")
                    except BaseException:
                        db.execute("ROLLBACK")
                        raise
            except sqlite3.DatabaseError as exc:  # (locked by a long writer, a full disk): the rows are still right
                _log.debug("could not update the run index %s: %s", self.path, exc)
            finally:
                db.close()
        return now
