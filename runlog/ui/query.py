"""The viewer's read side: what the JSON API answers, computed from the store.

No web framework here: :class:`StoreQuery` turns a store folder into plain
dicts and lists, so it is tested and benchmarked on its own. It finds runs and
answers the runs table and a run's page; a run's events are parsed by the
file-tail cache (:mod:`runlog.ui.cache`), its charts and tables answered by
:mod:`runlog.ui.charts`, its logs and downloads by :mod:`runlog.ui.logs`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .._errors import RunFileNotFound, RunNotFound
from .._model.metrics import SYSTEM_PREFIX
from .._store import layout
from .._store.filters import Clause
from .._store.latest import LatestValues
from .._store.search import run_counts, search_store
from . import charts, logs
from .cache import RunCache, safe_value
from .charts import DEFAULT_POINTS, MAX_POINTS, MetricNotFound
from .logs import LOG_CHUNK

__all__ = ["DEFAULT_POINTS", "IMAGE_TYPES", "MAX_POINTS", "MetricNotFound", "StoreQuery", "safe_value"]

_log = logging.getLogger("runlog.ui")

#: Runs per /api/runs answer unless ``max_results`` says otherwise, and the most it may say.
PAGE = 100
MAX_PAGE = 1000
#: Runs parsed in the background when the server starts (the newest: the runs table's first pages).
WARM_RUNS = 2000
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
_RUN_ID = re.compile(r"^[\w\-.]{1,255}$")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}


class StoreQuery:
    """Answers the viewer's questions about a store, from an incremental in-memory cache."""

    def __init__(self, store: str | os.PathLike[str]) -> None:
        self.store = Path(store).expanduser().absolute()
        self._runs: dict[str, RunCache] = {}
        self._lock = threading.Lock()
        self._latest: Any = None  # runlog._store.latest.LatestValues of the searches, made on first use

    # -- finding runs ----------------------------------------------------------------

    def _cache(self, experiment: str, run_id: str, run_dir: Path) -> RunCache:
        cache = self._runs.get(run_id)
        if cache is None or cache.experiment != experiment:
            with self._lock:
                cache = self._runs[run_id] = RunCache(experiment, run_id, run_dir)
        return cache

    def _run(self, run_id: str) -> RunCache:
        cache = self._runs.get(run_id)
        if cache is None and isinstance(run_id, str) and _RUN_ID.match(run_id) and run_id not in (".", ".."):
            found = layout.find_run_dir(self.store, run_id)
            cache = None if found is None else self._cache(found.parent.parent.name, run_id, found)
        if cache is None or not (cache.run_dir / layout.RUN_RECORD).is_file():
            raise RunNotFound(f"no run {run_id!r} in the store {self.store}; list runs with GET /api/runs", run_id=str(run_id))
        cache.refresh()
        return cache

    def experiments(self) -> list[dict[str, Any]]:
        with self._lock:
            self._latest = self._latest or LatestValues()
        counts = run_counts(self.store, self._latest)
        root = self.store / layout.EXPERIMENTS_DIR
        try:
            names = sorted(p.name for p in root.iterdir() if (p / layout.EXPERIMENT_RECORD).is_file())
        except FileNotFoundError:
            names = []
        return [{"name": n, "runs": counts.get(n, 0)} for n in names]

    # -- the runs table ------------------------------------------------------------------

    def _run_row(self, cache: RunCache, now: float) -> dict[str, Any]:
        state, record = cache.state, cache.record or {}
        start, end = state.start_time, state.end_time
        duration = None if start is None else (end if end is not None else now) - start
        metrics = dict(cache.summaries())
        return {
            "id": cache.run_id,
            "experiment": cache.experiment,
            "display_name": state.display_name or cache.run_id,
            "status": state.status,
            "parent_id": record.get("parent_id"),
            "run_type": record.get("run_type"),
            "created": record.get("created"),
            "start_time": start,
            "end_time": end,
            "duration": duration,
            "tags": dict(state.tags),
            "params": dict(state.properties),
            "metrics": metrics,
            "damaged": cache.damaged,
        }

    def runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        search: str | None = None,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """A page of runs (children too) with status, times, tags and last/min/max of each scalar metric.

        ``filter_string``/``order_by``/``max_results``/``page_token``: MLflow's search syntax, by
        :func:`runlog._store.search.search_store` over the run index (plain words search ids, names and
        experiments), newest first unless ordered; ``experiment``, ``status``, ``tag`` (``key`` or
        ``key=value``) and ``search`` (text in the id, name or experiment) narrow it further. A page is
        ``max_results`` runs (``PAGE`` by default, at most ``MAX_PAGE``), never the whole store; the
        answer's ``next_page_token`` fetches the next and ``total`` says how many match.
        ``InvalidSearch`` (a ValueError) for a filter that does not parse.
        """
        if max_results is None:
            max_results = PAGE
        if not 1 <= max_results <= MAX_PAGE:
            raise ValueError(f"query parameter 'max_results' must be from 1 to {MAX_PAGE}; got {max_results}: fetch more pages")
        also = []
        if status:
            also.append(Clause("attribute", "status", "=", status))
        if tag:
            key, eq, value = tag.partition("=")
            also.append(Clause("tag", key, "=", value) if eq else Clause("tag", key, "IS NOT NULL"))
        needle = (search or "").strip().lower()
        with self._lock:
            self._latest = self._latest or LatestValues()
        found = search_store(
            self.store, filter_string or None, order_by or None, max_results, page_token,
            experiments=[experiment] if experiment else None, latest=self._latest, plain_words=True, also=also,
            words=(needle,) if needle else (), count=True,
        )  # fmt: skip
        now = time.time()
        rows = []
        for row in found.rows:
            cache = self._cache(row.experiment, row.run_id, row.ref)
            try:
                cache.refresh()
            except (OSError, ValueError) as exc:
                _log.debug("skipped unreadable run %s: %s", cache.run_dir, exc)
                continue
            rows.append(self._run_row(cache, now))
        # System metrics (system/...) are in each row's metrics but get no column of their own.
        names = sorted({m for r in rows for m in r["metrics"] if not m.startswith(SYSTEM_PREFIX)})
        return {"runs": rows, "metric_names": names, "next_page_token": found.next_page_token, "total": found.total}

    # -- one run -----------------------------------------------------------------------

    def run(self, run_id: str) -> dict[str, Any]:
        """A run's page: record, status, times, tags, properties, metrics, images, files and logs."""
        cache = self._run(run_id)
        row = self._run_row(cache, time.time())
        state = cache.state
        metrics = []
        images: list[dict[str, Any]] = []
        with cache.lock:
            ranks = cache.ranks_by_name()
            for name, parts in sorted(cache.series_by_name().items()):
                metrics.append(charts.describe_metric(name, parts, state, images, ranks.get(name)))
        images.sort(key=lambda i: i["time"])
        files = self.files(run_id)
        record = cache.record or {}
        row.update(
            record={k: safe_value(v) for k, v in record.items()},
            properties=dict(state.properties),
            description=state.description,
            error=safe_value(state.error),
            metrics_list=metrics,
            images=images,
            files=files,
            logs=[f["name"] for f in files if f["name"].startswith(layout.LOGS_PREFIX)],
            log_ranks=[{"rank": r, "name": n} for r, n in logs.rank_log_names([f["name"] for f in files]).items()],
            live=state.status not in TERMINAL,
            children=self._children(cache),
        )
        return row

    def _children(self, parent: RunCache) -> list[dict[str, Any]]:
        """The runs whose parent is ``parent`` (in its experiment), oldest first: one search of the run index."""
        with self._lock:
            self._latest = self._latest or LatestValues()
        found = search_store(
            self.store, experiments=[parent.experiment], latest=self._latest, plain_words=False,
            also=[Clause("tag", "mlflow.parentRunId", "=", parent.run_id)],
        )  # fmt: skip
        rows = sorted(found.rows, key=lambda r: (r.created or 0.0, r.run_id))
        return [{"id": r.run_id, "display_name": r.run_name or r.run_id, "status": r.status, "created": r.created} for r in rows]

    def series(
        self,
        run_id: str,
        name: str,
        x: str = "step",
        points: int = DEFAULT_POINTS,
        xmin: float | None = None,
        xmax: float | None = None,
        rank: int | str | None = None,
    ) -> dict[str, Any]:
        """A scalar/list metric as ``{x: [...], y: [...]}``, min/max-downsampled to about ``points``.

        ``x``: ``step`` (the step given to ``run.log``, else the index), ``time`` (unix
        seconds) or ``relative`` (seconds since the run started). ``rank`` (a multi-process run): the
        lowest rank's by default, a number, or ``"merged"``; the answer's ``ranks`` lists the ranks that
        logged the name. See :func:`runlog.ui.charts.series`.
        """
        if x not in ("step", "time", "relative"):
            raise ValueError(f"x must be 'step', 'time' or 'relative'; got {x!r}")
        return charts.series(self._run(run_id), name, x, points, xmin, xmax, rank)

    def table(self, run_id: str, name: str) -> dict[str, Any]:
        """A row/table metric as ``{columns: [...], data: {column: [values]}}``."""
        return charts.table(self._run(run_id), name)

    # -- files and logs ------------------------------------------------------------------

    def files(self, run_id: str) -> list[dict[str, Any]]:
        cache = self._runs.get(run_id) or self._run(run_id)
        reader = cache.reader
        out = []
        for name in reader.file_names():
            try:
                st = reader.file_path(name).stat()
            except (OSError, ValueError):
                continue  # a dangling or outward symlink is not a file of the run
            suffix = os.path.splitext(name)[1].lower()
            out.append({"name": name, "size": st.st_size, "mtime": st.st_mtime, "image": suffix in IMAGE_TYPES})
        return out

    def file_path(self, run_id: str, name: str) -> Path:
        """The path of run file ``name``; ValueError for a name outside the run, RunFileNotFound if absent."""
        cache = self._runs.get(run_id) or self._run(run_id)
        path = cache.reader.file_path(name)  # raises ValueError for '..', absolute paths, outward symlinks
        if not path.is_file():
            raise RunFileNotFound(f"run {run_id} has no file {name!r}; list them with GET /api/runs/{run_id}/files", run_id=run_id, name=name)
        return path

    def log(
        self, run_id: str, name: str, offset: int | None = None, max_bytes: int = LOG_CHUNK, before: int | None = None
    ) -> dict[str, Any]:
        """Whole lines of a log file from byte ``offset`` (default: its last ``max_bytes``); see :func:`runlog.ui.logs.read_log`."""
        return logs.read_log(run_id, name, self.file_path(run_id, name), offset, max_bytes, before)

    def log_names(self, run_id: str) -> dict[str, Any]:
        """The run's log files, and the driver log of each rank of a multi-process run (``ranks``)."""
        names = [f["name"] for f in self.files(run_id) if f["name"].startswith(layout.LOGS_PREFIX)]
        return {"run_id": run_id, "logs": names, "ranks": [{"rank": r, "name": n} for r, n in logs.rank_log_names(names).items()]}

    def rank_log_name(self, run_id: str, rank: int) -> str:
        """The driver log of rank ``rank``; ValueError naming the run's ranks when it has no such rank's log."""
        ranks = self.log_names(run_id)["ranks"]
        for entry in ranks:
            if entry["rank"] == rank:
                return str(entry["name"])
        have = ", ".join(str(e["rank"]) for e in ranks) or "none (a single process)"
        raise ValueError(f"run {run_id} has no driver log of rank {rank}; its ranks: {have}")

    def rank_logs(self, run_id: str, offsets: dict[int, int] | None = None, max_bytes: int = LOG_CHUNK) -> dict[str, Any]:
        """Every rank's driver log interleaved by time, each line prefixed ``[rank N]`` (see :func:`runlog.ui.logs.read_rank_logs`).

        A single-process run gives its driver logs the same way, as rank 0.
        """
        entries = self.log_names(run_id)
        ranks = {e["rank"]: e["name"] for e in entries["ranks"]}
        if not ranks:
            drivers = [n for n in entries["logs"] if n.startswith("logs/driver_log")]
            ranks = {0: drivers[0]} if drivers else {}
        found = {rank: (name, self.file_path(run_id, name)) for rank, name in ranks.items()}
        return logs.read_rank_logs(run_id, found, offsets, max_bytes)

    def zip_to(self, run_id: str, target: IO[bytes]) -> list[str]:
        """Write every file of the run (and nothing else) into a zip on ``target``; return the names."""
        names: list[str] = []
        for chunk in self.iter_zip(run_id, names):
            target.write(chunk)
        return names

    def iter_zip(self, run_id: str, names: list[str] | None = None, chunk: int = 1 << 20) -> Iterator[bytes]:
        """A zip of every file of the run (and nothing else), made while it is sent: about ``chunk``
        bytes at a time, with no copy in memory or on disk. A missing run raises here, before the
        first byte; ``names`` (if given) gets the names zipped."""
        reader = (self._runs.get(run_id) or self._run(run_id)).reader
        if not reader.exists():
            raise RunNotFound(f"no run {run_id!r} in the store {self.store}; list runs with GET /api/runs", run_id=str(run_id))
        return logs.zip_chunks(reader, names if names is not None else [], chunk)


    def warm(self, runs: int = WARM_RUNS) -> None:
        """Parse the newest ``runs`` runs once (called in the background when the server starts): the runs
        table's first pages, not a store of 100,000 runs (whose parse would hold the interpreter for minutes
        and keep every run in memory)."""
        with self._lock:
            self._latest = self._latest or LatestValues()
        for row in search_store(self.store, max_results=runs, latest=self._latest).rows:
            try:
                self._cache(row.experiment, row.run_id, row.ref).refresh()
            except (OSError, ValueError):
                continue
