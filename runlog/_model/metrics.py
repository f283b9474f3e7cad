"""Metric kinds, their validation, and the shapes ``get_metrics()`` returns.

Kinds as stored (first field of a metric event): ``s`` scalar (``run.log``),
``l`` list (``run.log_list``), ``r`` row (``run.log_row``), ``t`` table
(``run.log_table``), ``i`` image (``run.log_image``, the value is the stored
file's name).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import InvalidMetricValue
from .._store import layout
from .._store.reader import EventColumns, merge_by_time, read_columns
from .._store.writer import encode_scalar

if TYPE_CHECKING:
    from .._store.reader import RunReader

__all__ = [
    "MetricPoint", "check_rank", "columns_by_rank", "encode_list", "encode_row", "encode_table", "history",
    "rank_columns", "rank_of_events", "shape_metrics",
]  # fmt: skip

SCALAR, LIST, ROW, TABLE, IMAGE = "s", "l", "r", "t", "i"
SYSTEM_PREFIX = "system/"  # the names of system metrics (runlog._capture.sysmetrics), left out of get_metrics() unless asked
KIND_NAMES = {SCALAR: "scalar", LIST: "list", ROW: "row", TABLE: "table", IMAGE: "image"}


@dataclass(frozen=True)
class MetricPoint:
    """One value of a scalar series, with its step (``None`` when not given) and time."""

    value: Any
    step: int | None
    time: float


def encode_list(name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        raise InvalidMetricValue(
            f"log_list takes an iterable of values for metric {name!r}; got a mapping. "
            f"Use run.log_table for columns or run.log_row for one row",
            name=name,
        )
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable) or getattr(value, "ndim", 1) == 0:
        raise InvalidMetricValue(
            f"log_list takes an iterable of values (list, tuple, range, generator, numpy array) for "
            f"metric {name!r}; got {type(value).__name__}. Use run.log for a single value",
            name=name,
        )
    items = [_element(name, v) for v in value]
    return "[" + ",".join(items) + "]"


def _element(name: str, value: Any) -> str:
    try:
        return encode_scalar(value, name)
    except InvalidMetricValue:
        raise InvalidMetricValue(
            f"the values of metric {name!r} must be scalars (int, float, bool, str, None); "
            f"got a nested {type(value).__name__}",
            name=name,
        ) from None


def encode_row(name: str, row: Mapping[str, Any]) -> str:
    if not row:
        raise InvalidMetricValue(
            f"log_row needs at least one column for metric {name!r}: run.log_row({name!r}, x=1, y=2)",
            name=name,
        )
    return "{" + ",".join(f"{json.dumps(str(k))}:{_element(name, v)}" for k, v in row.items()) + "}"


def encode_table(name: str, value: Any) -> str:
    if not isinstance(value, Mapping):
        raise InvalidMetricValue(
            f"log_table takes a dict of columns {{column: [values]}} for metric {name!r}; got "
            f"{type(value).__name__}. Use run.log_row to add rows one at a time",
            name=name,
        )
    columns: dict[str, list[str]] = {}
    for column, values in value.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InvalidMetricValue(
                f"column {column!r} of table {name!r} must be a list of values; got {type(values).__name__}",
                name=name,
            )
        columns[str(column)] = [_element(name, v) for v in values]
    lengths = {c: len(v) for c, v in columns.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{c!r}: {n}" for c, n in lengths.items())
        raise InvalidMetricValue(
            f"the columns of table {name!r} must all have the same length; got {detail}. "
            f"Pad or trim them, or log rows with run.log_row",
            name=name,
        )
    return "{" + ",".join(f"{json.dumps(c)}:[{','.join(v)}]" for c, v in columns.items()) + "}"


def _rows_of(kind: str, value: Any) -> list[dict[str, Any]]:
    if kind == ROW:
        return [value]
    n = max((len(v) for v in value.values()), default=0)
    return [{c: v[i] for c, v in value.items()} for i in range(n)]


def _columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    names: dict[str, None] = {}
    for row in rows:
        for c in row:
            names.setdefault(c, None)
    if len(rows) == 1:
        return {c: rows[0].get(c) for c in names}
    return {c: [row.get(c) for row in rows] for c in names}


def _scalars_only(columns: EventColumns, name: str | None) -> dict[str, Any]:
    """The fast path of shape_metrics when every event is a scalar: no per-event objects."""
    names, values = columns.names, columns.values
    if name is not None:
        selected = [v for v, m in zip(values, names) if m == name]
        groups = {name: selected} if selected else {}
    elif len(set(names)) == 1:
        groups = {names[0]: values}
    else:
        groups = {}
        for m, v in zip(names, values):
            bucket = groups.get(m)
            if bucket is None:
                groups[m] = [v]
            else:
                bucket.append(v)
    return {m: (vs[0] if len(vs) == 1 else vs) for m, vs in groups.items()}


def shape_metrics(columns: EventColumns, name: str | None = None, *, system: bool = False) -> dict[str, Any]:
    """Azure ML's ``get_metrics()`` shapes from metric events in logged order.

    A name logged once comes back as the bare value, several times as a list;
    ``log_list`` always as a list; rows and tables as ``{column: value}`` for one
    row and ``{column: [values]}`` for several; images as the stored file name.
    A name logged both as rows/tables and as values comes back as a list of
    everything in logged order (rows as dicts), so that nothing is hidden.

    System metrics (names under ``system/``) are left out unless ``system`` is true or
    ``name`` names one.
    """
    result = _shape(columns, name)
    if name is None and not system and any(m.startswith(SYSTEM_PREFIX) for m in result):
        return {m: v for m, v in result.items() if not m.startswith(SYSTEM_PREFIX)}
    return result


def _shape(columns: EventColumns, name: str | None) -> dict[str, Any]:
    if not len(columns):
        return {}
    if columns.kinds.count(SCALAR) == len(columns):
        return _scalars_only(columns, name)
    kinds: dict[str, str] = {}
    values: dict[str, list[Any]] = {}
    mixed: set[str] = set()  # names logged both as rows/tables and as values
    for kind, metric, value in zip(columns.kinds, columns.names, columns.values):
        if (name is not None and metric != name) or kind not in KIND_NAMES:  # unknown kinds are ignored
            continue
        bucket = values.get(metric)
        if bucket is None:
            bucket = values[metric] = []
            kinds[metric] = kind
        elif (kind in (ROW, TABLE)) != (kinds[metric] in (ROW, TABLE)):
            mixed.add(metric)
        if kind == SCALAR or kind == IMAGE:
            bucket.append(value)
        elif kind == LIST:
            bucket.extend(value)
            kinds[metric] = LIST
        elif kind in (ROW, TABLE):
            bucket.extend(_rows_of(kind, value))
    result: dict[str, Any] = {}
    for metric, bucket in values.items():
        kind = kinds[metric]
        if metric in mixed:  # no table shape fits: every value in logged order, rows as dicts
            result[metric] = bucket
        elif kind in (ROW, TABLE):
            result[metric] = _columns([r for r in bucket if isinstance(r, dict)])
        elif kind == LIST:
            result[metric] = bucket
        else:
            result[metric] = bucket[0] if len(bucket) == 1 else bucket
    return result


def history(columns: EventColumns, name: str) -> list[MetricPoint]:
    """Every scalar (and list element) of ``name`` with its step and time, in logged order."""
    points: list[MetricPoint] = []
    for kind, metric, value, step, ts in zip(columns.kinds, columns.names, columns.values, columns.steps, columns.times):
        if metric != name:
            continue
        if kind == SCALAR or kind == IMAGE:
            points.append(MetricPoint(value, step, ts))
        elif kind == LIST:
            points.extend(MetricPoint(v, None, ts) for v in value)
    return points


# -- ranks ------------------------------------------------------------------------------
#
# Each process of a multi-process run records a ``process`` meta event (rank, events file stem:
# runlog._jobs.distributed.register_process), so the rank of every metric event is the rank of the
# process whose events file holds it. Processes that recorded no rank (a single-process run, the
# submit supervisor's system metrics, forked workers) are rank ``None``.


def rank_of_events(processes: Any) -> dict[str, int | None]:
    """The rank of each events file stem (``<proc>``), from a run state's ``extra["process"]``."""
    if not isinstance(processes, dict):
        return {}
    found: dict[str, int | None] = {}
    for p in processes.values():
        if isinstance(p, dict) and p.get("events"):
            rank = p.get("rank")
            found[str(p["events"]).partition(".")[0]] = rank if type(rank) is int else None
    return found


def file_rank(rank_of: dict[str, int | None], file_name: str) -> int | None:
    """The rank of events file ``file_name`` (``<proc>.metrics.jsonl`` or ``<proc>.<n>.metrics.jsonl``)."""
    return rank_of.get(file_name.partition(".")[0])


def check_rank(rank: Any) -> int | str | None:
    """``rank`` as given to ``get_metrics``: None (the default view), a rank number (an ``int``, or a numpy
    integer), ``"all"`` or ``"merged"``; a ValueError that says so for anything else."""
    if rank is None or rank in ("all", "merged"):
        return rank  # type: ignore[no-any-return]
    if not isinstance(rank, (bool, str, float)):
        try:
            number = operator.index(rank)
        except TypeError:
            number = -1
        if number >= 0:
            return number
    raise ValueError(
        f"rank must be a rank number (0, 1, ...), 'all' (a dict of each rank's metrics) or 'merged' "
        f"(every rank's values in one series, in time order); got {rank!r}"
    )


def columns_by_rank(reader: RunReader, rank_of: dict[str, int | None] | None = None) -> dict[int | None, EventColumns]:
    """The run's metric events per rank (ranks in order, ``None`` last: processes that recorded no rank)."""
    if rank_of is None:
        rank_of = rank_of_events(reader.state().extra.get("process"))
    groups: dict[int | None, list[Any]] = {}
    for path in reader._event_files(layout.METRICS_SUFFIX):
        groups.setdefault(file_rank(rank_of, path.name), []).append(path)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    return {rank: read_columns(files) for rank, files in ordered}


def rank_columns(reader: RunReader, rank: int | str | None = None) -> EventColumns:
    """The metric events ``get_metrics(rank=...)`` shapes.

    ``None`` (the default): a run with fewer than two ranks (a single process) gives every event, as
    logged; a multi-process run gives each name from the lowest rank that logged it (rank 0's ``loss``
    rather than every rank's values in one saw-tooth list), and names no rank logged (the supervisor's
    system metrics) as they are. ``"merged"``: every process's events, in time order. A number: only
    that rank's events (rank 0 of a run that recorded no ranks is the whole run); a ValueError naming
    the run's ranks when it has no such rank.
    """
    rank = check_rank(rank)
    if rank == "merged":
        return reader.metric_columns()
    rank_of = rank_of_events(reader.state().extra.get("process"))
    ranks = sorted({r for r in rank_of.values() if r is not None})
    if (rank is None and len(ranks) < 2) or (rank == 0 and not ranks):
        return reader.metric_columns()
    if isinstance(rank, int) and rank not in ranks:
        have = ", ".join(map(str, ranks)) or "none (a single process: rank 0 is the whole run)"
        raise ValueError(f"the run has no rank {rank}; its ranks: {have}")
    by_rank = columns_by_rank(reader, rank_of)
    if isinstance(rank, int):
        return by_rank.get(rank, EventColumns())
    owner: dict[Any, int | None] = {}
    for r, columns in by_rank.items():  # ranks in order, None last: the lowest rank that logged a name owns it
        for n in dict.fromkeys(columns.names):
            owner.setdefault(n, r)
    return merge_by_time([c.take([i for i, n in enumerate(c.names) if owner[n] == r]) for r, c in by_rank.items()])
