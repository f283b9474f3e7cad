"""The viewer's metric answers: a run's metric list, a chart's series (downsampled) and a table metric.

Each function reads one run's :class:`~runlog.ui.cache.RunCache` (already refreshed by the caller)
and returns plain dicts, as the JSON API sends them.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from typing import Any

from .._model.metrics import check_rank
from .._store import RunState
from .cache import RunCache, Series, safe_value, summarize
from .downsample import minmax_downsample

__all__ = ["DEFAULT_POINTS", "MAX_POINTS", "MetricNotFound", "describe_metric", "series", "table"]

DEFAULT_POINTS = 2000
MAX_POINTS = 100_000
_INF = float("inf")


class MetricNotFound(LookupError):
    """A run has no metric of the requested name (or not of a chartable kind)."""


def describe_metric(
    name: str, parts: list[Series], state: RunState, images: list[dict[str, Any]], ranks: list[int] | None = None
) -> dict[str, Any]:
    """One entry of a run page's metric list (a summary, a table's columns, an image count, the ranks that
    logged it); images go to ``images``."""
    kind = parts[0].kind
    entry: dict[str, Any] = {"name": name, "description": state.metric_descriptions.get(name), "ranks": ranks or []}
    if kind in ("s", "l"):
        entry.update(summarize(parts))
    elif kind in ("r", "t"):
        columns: dict[str, None] = {}
        for s in parts:
            columns.update(s.columns)
        entry.update(kind="table", count=sum(s.count for s in parts), columns=list(columns))
    elif kind == "i":
        entry.update(kind="image", count=sum(s.count for s in parts))
        images.extend({"name": name, "file": f, "time": t, "step": st} for s in parts for f, t, st in s.images)
    return entry


def pick_rank(cache: RunCache, name: str, rank: int | str | None) -> tuple[list[Series], list[int], int | None]:
    """The series of ``name`` to chart for ``rank`` (see :func:`series`), the ranks that logged it, and the rank shown.

    Call with the cache's lock held.
    """
    rank = check_rank(rank)
    if rank == "all":
        raise ValueError("query parameter 'rank' is a rank number or 'merged' (one series per answer); get each rank of `ranks` in turn")
    ranked = cache.ranked_series(name)
    ranks = sorted({r for r, _ in ranked if r is not None})
    run_ranks = sorted({r for r in cache.rank_of_file().values() if r is not None})
    if rank == "merged" or (rank is None and len(run_ranks) < 2) or (rank == 0 and not run_ranks):
        return [s for _, s in ranked], ranks, None
    if rank is None:  # a multi-process run: the lowest rank that logged the name, as run.get_metrics()
        rank = ranks[0] if ranks else None
        return [s for r, s in ranked if r == rank], ranks, rank
    if rank not in run_ranks:
        have = ", ".join(map(str, run_ranks)) or "none (a single process: rank 0 is the whole run)"
        raise ValueError(f"run {cache.run_id} has no rank {rank}; its ranks: {have}")
    parts = [s for r, s in ranked if r == rank]
    if not parts:
        raise MetricNotFound(f"rank {rank} of run {cache.run_id} logged no {name!r}; the ranks that did: {', '.join(map(str, ranks)) or 'none'}")
    return parts, ranks, rank


def series(
    cache: RunCache,
    name: str,
    x: str = "step",
    points: int = DEFAULT_POINTS,
    xmin: float | None = None,
    xmax: float | None = None,
    rank: int | str | None = None,
) -> dict[str, Any]:
    """A scalar/list metric of the run as ``{x: [...], y: [...]}``, min/max-downsampled to about ``points``.

    ``x``: ``step`` (the step given to ``run.log``, else the index), ``time`` (unix
    seconds) or ``relative`` (seconds since the run started).

    ``rank`` (a multi-process run): by default a name several ranks logged is the lowest rank's
    (rank 0's), as ``run.get_metrics()``; a number: that rank's; ``"merged"``: every process's
    values merged by time. The answer's ``ranks`` lists the ranks that logged the name (``[]``
    when no process recorded a rank: a single-process run) and ``rank`` the one shown (None: all).
    """
    if x not in ("step", "time", "relative"):
        raise ValueError(f"x must be 'step', 'time' or 'relative'; got {x!r}")
    by_time = x != "step"
    points = max(4, min(int(points), MAX_POINTS))
    with cache.lock:
        kinds = cache.series_by_name().get(name)
        if not kinds or kinds[0].kind not in ("s", "l"):
            raise MetricNotFound(no_metric(cache, name, "scalar or list"))
        parts, ranks, shown = pick_rank(cache, name, rank)
        if len(parts) == 1:
            s = parts[0]
            # Copies (a memcpy): another request may append to the live arrays once the lock is released.
            xs, ys = (s.ts if by_time else s.xs)[:], s.ys[:]
            monotonic = s.monotonic or by_time
        else:  # several processes logged it: merge by wall time
            merged = sorted(((t, xv, yv) for s in parts for t, xv, yv in zip(s.ts, s.xs, s.ys)), key=lambda p: p[0])
            xs = array("d", (p[0] if by_time else p[1] for p in merged))
            ys = array("d", (p[2] for p in merged))
            monotonic = by_time or all(a <= b for a, b in itertools.pairwise(xs))
    total = len(xs)
    base = 0.0  # x="relative": seconds since the run started (its first Running status, else first point)
    if x == "relative":
        start_time = cache.state.start_time
        base = start_time if start_time is not None else (xs[0] if total else 0.0)
    if xmin is not None or xmax is not None:
        lo = -_INF if xmin is None else xmin + base
        hi = _INF if xmax is None else xmax + base
        if monotonic:
            i, j = bisect.bisect_left(xs, lo), bisect.bisect_right(xs, hi)
            xs, ys = xs[i:j], ys[i:j]
        else:
            keep = [i for i, v in enumerate(xs) if lo <= v <= hi]
            xs, ys = array("d", (xs[i] for i in keep)), array("d", (ys[i] for i in keep))
    out_x, out_y = minmax_downsample(xs, ys, points)
    if base:
        out_x = [v - base for v in out_x]
    return {
        "run_id": cache.run_id,
        "name": name,
        "x_axis": x,
        "total": total,
        "in_range": len(xs),
        "downsampled": len(out_x) < len(xs),
        "x": out_x,
        "y": out_y,
        "ranks": ranks,
        "rank": shown,
    }


def table(cache: RunCache, name: str) -> dict[str, Any]:
    """A row/table metric of the run as ``{columns: [...], data: {column: [values]}}``."""
    with cache.lock:
        parts = cache.series_by_name().get(name)
        if not parts or parts[0].kind not in ("r", "t"):
            raise MetricNotFound(no_metric(cache, name, "row or table"))
        columns: dict[str, None] = {}
        for s in parts:
            columns.update(s.columns)
        rows = [r for s in sorted(parts, key=lambda s: s.last_time) for r in s.rows]
    data = {c: [safe_value(r.get(c)) for r in rows] for c in columns}
    return {"run_id": cache.run_id, "name": name, "columns": list(columns), "rows": len(rows), "data": data}


def no_metric(cache: RunCache, name: str, what: str) -> str:
    """The message for a metric the run does not have (listing those it has)."""
    have = sorted(cache.series_by_name())
    return f"run {cache.run_id} has no {what} metric {name!r}; it has: {', '.join(have) or 'no metrics'}"
