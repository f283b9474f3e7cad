"""The run index: a derived, rebuildable summary of every run of a store, in SQLite, that answers searches.

The run folders stay the source of truth. The index (``<store>/index.sqlite3``) keeps, per run, the row a
runs table or a search needs (JSON: status, times, name, tags, params, last metric values), the same
values as columns and as one ``vals`` row per metric, param and tag (so a filter and an order-by run in
SQL and only a page of rows is ever decoded: :mod:`runlog._store.sqlsearch`), and a *signature* of the
run's files. Writers never touch it: ``run.log`` costs what it did.

Keeping it current (``sync``) costs a reader a few small reads, not one per run:

- the store's change journal (:mod:`runlog._store.journal`) names every run whose status, tags or
  properties changed; the index remembers (``meta.synced``) the journal id and offset up to which every
  ended run's row was checked, so a sync reads only the journal's new lines and checks the runs they name;
- runs not ended (their files grow without journal lines) are checked every time by their events files;
- each experiment's runs folder is listed again only when its time moved (a run folder made or removed).

A journal replaced or missing (its id differs) makes a sync check every run by one ``stat``. Several
processes may sync at once: each row write is skipped where another process wrote a row checked later
in the same journal, so a row never goes back in time; a process killed mid-sync leaves the database
consistent (SQLite's journal); a damaged or deleted database is rebuilt from the runs.

Why SQLite: one file, in the standard library, concurrent readers, atomic replacement of rows, indexes,
and it survives ``kill -9``; see ``docs/architecture.md``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import journal, layout
from .filters import like

__all__ = ["COLUMNS", "INDEX_FILE", "Entry", "RunIndex"]

INDEX_FILE = "index.sqlite3"
SCHEMA_VERSION = 6
_log = logging.getLogger("runlog.store")
_T = TypeVar("_T")

#: The columns a row is searched by besides its values (see :mod:`runlog._store.sqlsearch`).
COLUMNS = (
    "experiment", "run_id", "run_name", "status", "mlflow_status", "start_time", "end_time", "newest",
    "user_id", "experiment_id", "artifact_uri", "lifecycle_stage", "words", "created", "parent_id", "run_type",
)  # fmt: skip
_RETRY = "!"  # the signature of a row built again on every sync (a folder not yet a run, a failed read)
_LISTED_AFTER_NS = 2_000_000_000  # a folder changed within the file system's time granularity is listed again


@dataclass
class Entry:
    """What the index stores of a row: its JSON, its columns (``COLUMNS``) and its values
    ``(kind, name, number, is_nan, text)`` (kind ``m`` metric, ``p`` param, ``t`` tag)."""

    text: str
    columns: dict[str, Any]
    values: list[tuple[str, str, float | None, int, str | None]]


def signature(run_dir: Path | str) -> str:
    """The names and sizes of a run's events files (appends change it; an unchanged run keeps it)."""
    parts = []
    try:
        with os.scandir(os.path.join(run_dir, layout.EVENTS_DIR)) as entries:
            for entry in entries:
                try:
                    parts.append(f"{entry.name}:{entry.stat().st_size}")
                except OSError:
                    continue
    except OSError:
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


def _sql_like(value: Any, pattern: Any, flags: int) -> int:
    """MLflow's LIKE/ILIKE as SQLite calls it (the one implementation: :func:`runlog._store.filters.like`)."""
    return int(value is not None and pattern is not None and like(value, pattern, bool(flags)))


class RunIndex:
    """Rows of every run of a store, kept in ``<store>/index.sqlite3``, made current on use and queried in SQL.

    ``search(build, encode, query)`` makes the index current (runs new or changed read by
    ``build(run_dir)``, stored as ``encode(row)``) and calls ``query(connection)``; ``rows(build)``
    returns every row.
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = store / INDEX_FILE
        self._lock = threading.Lock()
        _instances.add(self)
        self._db: sqlite3.Connection | None = None
        self._pid = os.getpid()  # the process the connection was opened in
        self._opened: tuple[int, int] | None = None  # the file it opened (device, inode)
        self._listed: dict[str, set[str]] = {}  # experiment -> run folders at this process's last written listing

    def forget(self) -> None:
        """Close this process's connection: the next call opens the file as a new process would."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._listed = {}

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            found = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if found is None or found[0] != str(SCHEMA_VERSION):
                db.execute("BEGIN IMMEDIATE")
                found = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
                if found is None or found[0] != str(SCHEMA_VERSION):  # another layout: rebuilt from the runs
                    for table in ("runs", "vals", "texts"):
                        db.execute(f"DROP TABLE IF EXISTS {table}")
                    db.execute("DELETE FROM meta")
                    db.execute(
                        "CREATE TABLE runs (key TEXT PRIMARY KEY, signature TEXT, journal TEXT, checked INTEGER, "
                        f"settled INTEGER, {', '.join(COLUMNS)})"
                    )
                    # The rows' JSON apart: scans of the searchable columns read narrow records.
                    db.execute("CREATE TABLE texts (key TEXT PRIMARY KEY, row TEXT)")
                    db.execute(
                        "CREATE TABLE vals (key TEXT, kind TEXT, name TEXT, num REAL, nan INTEGER, text TEXT, "
                        "PRIMARY KEY (key, kind, name)) WITHOUT ROWID"
                    )
                    db.execute("CREATE INDEX runs_newest ON runs (newest DESC, run_id, key)")
                    db.execute("CREATE INDEX runs_unsettled ON runs (settled)")
                    db.execute("CREATE INDEX runs_experiment ON runs (experiment, key)")
                    db.execute("CREATE INDEX runs_created ON runs (experiment, created DESC, run_id DESC)")
                    db.execute("CREATE INDEX vals_num ON vals (kind, name, num)")
                    db.execute("CREATE INDEX vals_text ON vals (kind, name, text)")
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                db.execute("COMMIT")
            db.create_function("rl_like", 3, _sql_like, deterministic=True)
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection | None:
        """The index database; a damaged one is removed and made anew; None when it cannot be had."""
        if self._db is not None and self._pid != os.getpid():
            self._db = None  # a forked child: the parent's connection is never used (nor closed) here
            self._listed = {}
        if self._db is not None:
            if self._file_id() == self._opened:
                return self._db
            # Removed (found damaged by another process) or replaced since it was opened: the open
            # connection would go on with a file nobody else reads. Opened anew.
            self._db.close()
            self._db = None
            self._listed = {}
        self._pid = os.getpid()
        for attempt in (1, 2):
            try:
                self._db = self._connect()
                self._opened = self._file_id()
                return self._db
            except sqlite3.OperationalError:  # cannot open (a read-only store) or locked: no index this time
                break
            except sqlite3.DatabaseError as exc:  # not a database any more: made anew from the runs
                if attempt == 2:
                    break
                self._remove(exc)
            except OSError:
                break
        _log.debug("no run index for %s (read-only or locked): reading the runs", self.store)
        return None

    def _file_id(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _remove(self, exc: Exception) -> None:
        _log.warning("the run index %s is damaged (%s): rebuilding it from the runs", self.path, exc)
        if self._db is not None:
            self._db.close()
            self._db = None
        self._listed = {}
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except OSError:
                pass

    def search(
        self,
        build: Callable[[Path], Any],
        encode: Callable[[Any], Entry],
        query: Callable[[sqlite3.Connection], _T],
        progress: Callable[[int, int], None] | None = None,
        keep: Callable[[Any], bool] | None = None,
        settled: Callable[[Any], bool] | None = None,
    ) -> _T | None:
        """Make the index current, then ``query(connection)``; None when there is no usable index (a
        read-only or locked store, or a write that failed): the caller then reads the runs.

        ``keep(row)`` False: the row is stored but built again on every sync (a read that failed).
        ``settled(row)`` True (an ended run): the row is checked by its events folder's time only (one
        ``stat``), not by the sizes of every events file, and only when the journal names it.
        """
        with self._lock:
            for attempt in (1, 2):
                db = self._open()
                if db is None:
                    return None
                try:
                    if not self._sync(db, build, encode, progress, keep, settled):
                        return None
                    return query(db)
                except (sqlite3.OperationalError, sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError) as exc:
                    # locked beyond the timeout, a full disk, read-only, a query SQLite refused: the index is sound
                    _log.debug("could not use the run index %s: %s", self.path, exc)
                    return None
                except sqlite3.DatabaseError as exc:  # damaged while open: made anew
                    if attempt == 2:
                        return None
                    self._remove(exc)
            return None

    def rows(
        self,
        build: Callable[[Path], Any],
        encode: Callable[[Any], Entry] | None = None,
        decode: Callable[[str], Any] = json.loads,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Any]:
        """Every row (decoded), the index made current first; without a usable index, every run read."""
        found = self.search(
            build, encode or (lambda row: Entry(json.dumps(row), {}, [])),
            lambda db: [decode(text) for (text,) in db.execute("SELECT row FROM texts ORDER BY key")],
            progress,
        )  # fmt: skip
        if found is not None:
            return found
        return [row for _key, run_dir in self.listing() for row in [build(run_dir)] if row is not None]

    def listing(self, experiments: Iterable[str] | None = None) -> list[tuple[str, Path]]:
        """``(key, run folder)`` of every run folder of the store (or of ``experiments``), in key order."""
        root = self.store / layout.EXPERIMENTS_DIR
        found: list[tuple[str, Path]] = []
        for name in sorted(experiments) if experiments is not None else self._experiments():
            try:
                found.extend((f"{name}/{run}", root / name / layout.RUNS_DIR / run) for run in sorted(_folders(root / name / layout.RUNS_DIR)))
            except OSError:
                continue
        return found

    def _experiments(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.store / layout.EXPERIMENTS_DIR) if e.is_dir())
        except OSError:
            return []

    def _sync(
        self,
        db: sqlite3.Connection,
        build: Callable[[Path], Any],
        encode: Callable[[Any], Entry],
        progress: Callable[[int, int], None] | None,
        keep: Callable[[Any], bool] | None,
        settled: Callable[[Any], bool] | None,
    ) -> bool:
        """Bring every row up to date with the runs; False when the changes could not be written."""
        meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        synced = meta.get("synced")
        position = None
        if synced:
            ident, _, offset = synced.rpartition(":")
            position = (ident, int(offset))
        # The journal before any run is checked: a change after this is in the journal after it.
        named, now = journal.read_since(self.store, position)
        if now is None and journal.start(self.store):
            named, now = journal.read_since(self.store, position)
        journal_id, offset = now if now is not None else ("", 0)
        root = self.store / layout.EXPERIMENTS_DIR
        todo: dict[str, Path] = {}  # runs to check
        gone: list[str] = []
        listings: dict[str, str] = {}
        listed: dict[str, set[str]] = {}  # run folders listed now, by experiment
        self._listed, mine = {}, self._listed  # kept only once written
        experiments = self._experiments()
        for name in experiments:  # a runs folder listed again only when its time moved
            runs_dir = root / name / layout.RUNS_DIR
            try:
                mtime = os.stat(runs_dir).st_mtime_ns
            except OSError:
                continue
            if meta.get(f"listing:{name}") == str(mtime):
                continue
            try:
                folders = _folders(runs_dir)
            except OSError:
                continue
            prefix = f"{name}/"
            known_here = mine.get(name)
            if known_here is not None and db.execute("SELECT count(*) FROM runs WHERE experiment = ?", (name,)).fetchone()[0] == len(known_here):
                # The rows are this process's last listing's (a run folder made since, within the file system's
                # time granularity): only the difference is looked at, not 100,000 keys.
                todo.update((prefix + run, runs_dir / run) for run in folders - known_here)
                gone.extend(prefix + run for run in known_here - folders)
            else:
                known = {key for (key,) in db.execute("SELECT key FROM runs WHERE experiment = ?", (name,))}
                todo.update((prefix + run, runs_dir / run) for run in folders if prefix + run not in known)
                gone.extend(key for key in known if key[len(prefix) :] not in folders)
            listed[name] = folders
            if time.time_ns() - mtime > _LISTED_AFTER_NS:
                listings[f"listing:{name}"] = str(mtime)
        indexed = set(json.loads(meta.get("experiments", "[]")))
        for name in indexed.difference(experiments):  # an experiment folder removed: its rows too
            gone.extend(key for (key,) in db.execute("SELECT key FROM runs WHERE experiment = ?", (name,)))
        if indexed != set(experiments):
            listings["experiments"] = json.dumps(experiments)
        if named is None:  # no sync point in this journal: every row is checked
            checks = db.execute("SELECT key, signature FROM runs").fetchall()
        else:
            keys = [k for k in named if k not in todo]
            checks = db.execute("SELECT key, signature FROM runs WHERE settled = 0").fetchall()
            stored = {k for k, _s in checks}
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                for (key,) in db.execute(f"SELECT key FROM runs WHERE settled = 1 AND key IN ({','.join('?' * len(part))})", part):
                    # Named by the journal: read again, whatever its events folder's time says (two changes
                    # within one tick of a coarse file system clock leave that time where it was).
                    stored.add(key)
                    todo[key] = self._path(key)
            todo.update((k, self._path(k)) for k in keys if k not in stored and "/" in k)  # named, not yet indexed
        gone_set = set(gone)
        for key, sig in checks:
            if key in gone_set or key in todo:
                continue
            run_dir = self._path(key)
            if not sig or sig == _RETRY or sig != _current(run_dir, sig):
                todo[key] = run_dir
        writes: list[tuple[str, str, Any, Entry | None]] = []
        for done, (key, run_dir) in enumerate(sorted(todo.items())):
            # Both signatures before the read: a change made while it reads shows as a change next time.
            quick, whole = quick_signature(run_dir), signature(run_dir)
            row = build(run_dir)
            if progress is not None:
                progress(done + 1, len(todo))
            if row is None:  # not a run (yet): looked at again next time; a folder gone: no row
                if os.path.isdir(run_dir):
                    writes.append((key, _RETRY, None, None))
                else:
                    gone.append(key)
                continue
            if keep is not None and not keep(row):
                writes.append((key, _RETRY, row, encode(row)))
                continue
            writes.append((key, quick if settled is not None and settled(row) and quick else whole, row, encode(row)))
        if writes or gone or listings or synced != f"{journal_id}:{offset}":
            db.execute("BEGIN IMMEDIATE")
            try:
                self._write(db, writes, gone, listings, journal_id, offset, settled)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._listed = {**mine, **listed}
        return True

    def _write(
        self,
        db: sqlite3.Connection,
        writes: list[tuple[str, str, Any, Entry | None]],
        gone: list[str],
        listings: dict[str, str],
        journal_id: str,
        offset: int,
        settled: Callable[[Any], bool] | None,
    ) -> None:
        """Rows replaced (unless another process stored one checked later), removed runs deleted, the sync
        point and listing times recorded."""
        later: set[str] = set()
        keys = [w[0] for w in writes]
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            later.update(
                k for (k,) in db.execute(
                    f"SELECT key FROM runs WHERE journal = ? AND checked > ? AND key IN ({','.join('?' * len(part))})",
                    [journal_id, offset, *part],
                )
            )  # fmt: skip
        insert = f"INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?{', ?' * len(COLUMNS)})"
        rows: list[tuple[Any, ...]] = []
        values: list[tuple[Any, ...]] = []
        texts: list[tuple[str, str]] = []
        dropped: list[tuple[str]] = []
        for key, sig, row, entry in writes:
            if key in later:
                continue
            dropped.append((key,))
            experiment, _, run_id = key.partition("/")
            columns = {"experiment": experiment, "run_id": run_id, **(entry.columns if entry is not None else {})}
            if entry is None:
                rows.append((key, sig, journal_id, offset, 0, *(columns.get(c) for c in COLUMNS)))
                continue
            ended = int(sig != _RETRY and settled is not None and settled(row))
            rows.append((key, sig, journal_id, offset, ended, *(columns.get(c) for c in COLUMNS)))
            texts.append((key, entry.text))
            values.extend((key, *value) for value in entry.values)
        dropped.extend((k,) for k in gone)
        db.executemany("DELETE FROM vals WHERE key = ?", dropped)
        db.executemany("DELETE FROM texts WHERE key = ?", dropped)
        db.executemany("DELETE FROM runs WHERE key = ?", [(k,) for k in gone])
        db.executemany(insert, rows)
        db.executemany("INSERT INTO texts VALUES (?, ?)", texts)
        db.executemany("INSERT OR REPLACE INTO vals VALUES (?, ?, ?, ?, ?, ?)", values)
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(listings.items()))
        if journal_id:
            found = db.execute("SELECT value FROM meta WHERE name = 'synced'").fetchone()
            if found is None or not found[0].startswith(journal_id + ":") or int(found[0].rpartition(":")[2]) < offset:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('synced', ?)", (f"{journal_id}:{offset}",))
        else:
            db.execute("DELETE FROM meta WHERE name = 'synced'")

    def _path(self, key: str) -> Path:
        experiment, _, run_id = key.partition("/")
        return Path(f"{self.store}/{layout.EXPERIMENTS_DIR}/{experiment}/{layout.RUNS_DIR}/{run_id}")


# Every RunIndex of this process: a forked child gets new locks (one held by another thread of the parent
# at the fork would never be released in the child).
_instances: weakref.WeakSet[RunIndex] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for index in list(_instances):
        index._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _folders(runs_dir: Path) -> set[str]:
    with os.scandir(runs_dir) as entries:
        return {e.name for e in entries if e.is_dir()}
