"""Searching runs with MLflow's search syntax: one filter, order-by and paging implementation.

``metrics.val_acc > 0.9 and params.lr = '0.01' and attributes.status = 'Failed'``: the syntax of
MLflow's ``search_runs`` (the same identifiers, comparators, quoting, ``LIKE``/``ILIKE``, ``IN``,
``IS NULL``, order-by clauses and ``{"offset": n}`` page tokens), with MLflow's semantics (a run that
lacks the key does not match; ``None`` and NaN sort last). It needs no MLflow: ``runlog runs
--filter``, the MLflow tracking store (:mod:`runlog.mlflow`) and the viewer use this one parser.

runlog additions: ``properties.`` is ``params.``; ``attributes.status`` matches runlog's status
names (``'Failed'``) as well as MLflow's (``'FAILED'``); ``attributes.experiment`` is the experiment
name; a filter of plain words (no comparator) matches runs whose id, name or experiment contains
every word.
"""

from __future__ import annotations

import base64
import functools
import heapq
import json
import math
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import RunReader, layout
from .filters import Clause, InvalidSearch, Words, like, parse_filter, parse_order_by
from .index import COLUMNS, Entry, RunIndex
from .latest import LatestValues
from .mlflow_names import MLFLOW_STATUS, experiment_id
from .sqlsearch import compile_search, page, sort_values

_T = TypeVar("_T")

# Bounds of a search's input: a page of at most MAX_RESULTS runs, a filter of at most MAX_CLAUSES conditions
# (SQLite refuses deeper expressions), a page token's offset at most MAX_OFFSET.
MAX_RESULTS = 1_000_000
MAX_CLAUSES = 200
MAX_OFFSET = 10**12

__all__ = [
    "Found",
    "InvalidSearch",
    "RunRow",
    "filter_rows",
    "find_runs",
    "iter_run_dirs",
    "paginate",
    "parse_filter",
    "parse_order_by",
    "run_counts",
    "run_row",
    "runs_by_created",
    "search",
    "search_store",
    "sort_rows",
]

@dataclass
class RunRow:
    """What a search sees of a run: attributes, last metric values, params (properties) and tags."""

    run_id: str
    experiment: str = ""
    run_name: str = ""
    status: str = "Running"
    start_time: int | None = None  # ms
    end_time: int | None = None
    user_id: str = ""
    experiment_id: str = ""
    artifact_uri: str = ""
    lifecycle_stage: str = "active"
    metrics: dict[str, float] = field(default_factory=dict)
    metric_points: dict[str, list[Any]] = field(default_factory=dict)  # name -> [step, time in ms] of the last value
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created: float | None = None  # run.json's creation time (seconds), else the run folder's mtime: get_runs' order
    parent_id: str | None = None
    run_type: str | None = None
    ref: Any = None  # whatever the caller needs back (a run folder, an entity)


# -- matching, sorting, paging --------------------------------------------------------------------


def _like(ignore_case: bool) -> Callable[[Any, Any], bool]:
    return lambda lhs, pattern: like(lhs, pattern, ignore_case)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "LIKE": _like(False),
    "ILIKE": _like(True),
    "IN": lambda a, b: a in b,
    "NOT IN": lambda a, b: a not in b,
}


def _lhs(row: RunRow, kind: str, key: str) -> Any:
    if kind == "metric":
        return row.metrics.get(key)
    if kind == "param":
        return row.params.get(key)
    if kind == "tag":
        return row.tags.get(key)
    return getattr(row, key, None)


def _matches(row: RunRow, clause: Clause) -> bool:
    lhs = _lhs(row, clause.kind, clause.key)
    if clause.op == "IS NULL":
        return lhs is None
    if clause.op == "IS NOT NULL":
        return lhs is not None
    if lhs is None:
        return False
    compare = _COMPARE[clause.op]
    if clause.kind == "attribute" and clause.key == "status":
        names = (lhs, MLFLOW_STATUS.get(lhs, lhs))
        if clause.op in ("!=", "NOT IN"):
            positive = _COMPARE["=" if clause.op == "!=" else "IN"]
            return not any(positive(n, clause.value) for n in names)
        return any(compare(n, clause.value) for n in names)
    try:
        return bool(compare(lhs, clause.value))
    except TypeError:
        return False


def filter_rows(rows: Iterable[RunRow], clauses: list[Clause] | Words) -> list[RunRow]:
    if isinstance(clauses, Words):
        return [
            r for r in rows
            if all(w in f"{r.run_id}\n{r.run_name}\n{r.experiment}".lower() for w in clauses.words)
        ]  # fmt: skip
    if not clauses:
        return list(rows)
    tests = [_predicate(c) for c in clauses]
    if len(tests) == 1:
        return list(filter(tests[0], rows))
    return [r for r in rows if all(test(r) for test in tests)]


_FAST = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _predicate(clause: Clause) -> Callable[[RunRow], bool]:
    """``_matches`` for one clause as one function (a search of 100,000 rows calls it 100,000 times)."""
    compare = _FAST.get(clause.op)
    if compare is None or clause.kind not in ("metric", "param", "tag"):
        return lambda row: _matches(row, clause)
    field = operator.attrgetter({"metric": "metrics", "param": "params", "tag": "tags"}[clause.kind])
    key, value = clause.key, clause.value

    def test(row: RunRow) -> bool:
        lhs = field(row).get(key)
        if lhs is None:
            return False
        try:
            return bool(compare(lhs, value))
        except TypeError:
            return False

    return test


def _sort_key(row: RunRow, kind: str, key: str, ascending: bool) -> tuple[bool, Any]:
    value = _lhs(row, kind, key)
    if kind == "attribute" and key == "status":  # ordered by MLflow's names, as MLflow orders them
        value = MLFLOW_STATUS.get(value, value)
    is_none = value is None
    is_nan = isinstance(value, float) and math.isnan(value)
    fill = (1 if ascending else -1) * math.inf
    if is_none:
        value = fill
    elif is_nan:
        value = -fill
    missing = is_none or is_nan
    return (missing, value) if ascending else (not missing, value)


def sort_rows(rows: Iterable[RunRow], order_by: Sequence[tuple[str, str, bool]]) -> list[RunRow]:
    """Newest first (then run id), re-sorted by each order-by clause, the first the most significant."""
    return order_rows(newest_first(rows), order_by)


def newest_first(rows: Iterable[RunRow]) -> list[RunRow]:
    return sorted(rows, key=lambda r: (-(r.start_time or 0), r.run_id))


def order_rows(ordered: list[RunRow], order_by: Sequence[tuple[str, str, bool]]) -> list[RunRow]:
    """``ordered`` (newest first) re-sorted by each order-by clause, the first the most significant (stable)."""
    for kind, key, ascending in reversed(order_by):
        try:
            ordered = sorted(ordered, key=lambda r: _sort_key(r, kind, key, ascending), reverse=not ascending)
        except TypeError:  # numbers and text under one key: compare as text
            ordered = sorted(
                ordered, key=lambda r: (_sort_key(r, kind, key, ascending)[0], str(_lhs(r, kind, key))),
                reverse=not ascending,
            )  # fmt: skip
    return ordered


def paginate(rows: Sequence[Any], page_token: str | bytes | None, max_results: int) -> tuple[list[Any], str | None]:
    """A page and the token of the next one.

    The token (base64 JSON, opaque to callers) holds MLflow's ``offset`` and the id of the page's last
    run: the next page starts after that run wherever it now stands, so runs added or removed before
    it between two pages (a sweep still starting runs) neither repeat nor skip a run. A token without
    ``after`` (MLflow's own) pages by offset.
    """
    start = 0
    if page_token:
        try:
            token = json.loads(base64.b64decode(page_token))
            start = int(token["offset"])
            after = token.get("after")
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise InvalidSearch(f"invalid page token {page_token!r}: pass the token a previous page returned") from exc
        if isinstance(after, str):
            ids = [getattr(r, "run_id", None) for r in rows]
            if after in ids:
                start = ids.index(after) + 1
    page = list(rows[start : start + max_results])
    end = start + len(page)
    if end >= len(rows) or not page:
        return page, None
    last = getattr(page[-1], "run_id", None)
    return page, base64.b64encode(json.dumps({"offset": end, "after": last}).encode()).decode()


def search(
    rows: Iterable[RunRow],
    filter_string: str | None = None,
    order_by: Iterable[str] | None = None,
    max_results: int | None = None,
    page_token: str | bytes | None = None,
    *,
    plain_words: bool = False,
) -> tuple[list[RunRow], str | None]:
    """Filter, sort and page rows in one call; InvalidSearch says what is wrong with the filter."""
    clauses = parse_filter(filter_string, plain_words=plain_words)
    ordered = sort_rows(filter_rows(rows, clauses), parse_order_by(order_by))
    if max_results is None:
        return ordered, None
    return paginate(ordered, page_token, max_results)


def run_row(run_dir: Path, latest: Any = None) -> RunRow:
    """The search row of a run folder (``latest``: a :class:`runlog._store.latest.LatestValues` to reuse)."""
    reader = RunReader(run_dir)
    try:
        record = reader.record()
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    state = reader.state()
    values = (latest or LatestValues()).of(run_dir)
    created = record.get("created")
    start = state.start_time if state.start_time is not None else created if isinstance(created, (int, float)) else None
    ended = state.end_time is not None and state.status in _ENDED
    tags = dict(state.tags)
    if not isinstance(created, (int, float)) or isinstance(created, bool):
        try:
            created = run_dir.stat().st_mtime  # a damaged record: dated by its folder, as Experiment.get_runs dates it
        except OSError:
            created = 0.0
    parent_id = record.get("parent_id")
    run_type = record.get("run_type")
    tags.setdefault("mlflow.runName", state.display_name or run_dir.name)  # as MLflow clients see them
    if record.get("parent_id"):
        tags.setdefault("mlflow.parentRunId", str(record["parent_id"]))
    return RunRow(
        run_id=run_dir.name,
        experiment=run_dir.parent.parent.name,
        run_name=state.display_name or run_dir.name,
        status=state.status,
        start_time=None if start is None else round(start * 1000),
        end_time=round(state.end_time * 1000) if ended and state.end_time is not None else None,
        user_id=str(record.get("user") or ""),
        experiment_id=experiment_id(run_dir.parent.parent.name),
        artifact_uri=(run_dir / layout.FILES_DIR).as_uri(),
        metrics={name: float(v) for name, (v, _step, _t) in values.items()},
        metric_points={
            name: [step if type(step) is int else 0, round(t * 1000) if math.isfinite(t) else 0]
            for name, (_v, step, t) in values.items()
        },
        params=dict(state.properties),
        tags=tags,
        created=float(created),
        parent_id=str(parent_id) if parent_id else None,
        run_type=str(run_type) if run_type is not None else None,
        ref=run_dir,
    )


_ENDED = frozenset({"Completed", "Failed", "Canceled"})


def iter_run_dirs(store: Path, experiments: Iterable[str] | None = None) -> Iterable[Path]:
    """Every run folder of the store (or of the named experiments), in folder order (no ``stat`` per run:
    a folder without a ``run.json`` yet is skipped where its row is built)."""
    return (path for _key, path in index_for(store).listing(experiments))


@dataclass
class Found:
    """A search's answer: a page of rows, the next page's token, and (when asked) how many runs match."""

    rows: list[RunRow]
    next_page_token: str | None
    total: int | None = None


def find_runs(
    store: Path,
    filter_string: str | None = None,
    order_by: Iterable[str] | None = None,
    max_results: int | None = None,
    page_token: str | bytes | None = None,
    *,
    experiments: Iterable[str] | None = None,
    latest: Any = None,
    plain_words: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[RunRow], str | None]:
    """Search the runs of a store: the one entry point of ``runlog runs``, the viewer and the MLflow store.

    Rows (``RunRow``, ``ref`` = the run folder) filtered, ordered (newest first by default) and paged;
    ``InvalidSearch`` for a filter that does not parse. ``latest``: a
    :class:`runlog._store.latest.LatestValues` kept between calls (incremental reads). The run index
    (``<store>/index.sqlite3``) is made current (runs new or changed since they were indexed read again;
    ``progress(done, total)`` is called meanwhile: a first open of a large store) and answers the search in
    SQL, so only the page's rows are decoded.
    """
    found = search_store(
        store, filter_string, order_by, max_results, page_token, experiments=experiments, latest=latest,
        plain_words=plain_words, progress=progress,
    )  # fmt: skip
    return found.rows, found.next_page_token


def search_store(
    store: Path,
    filter_string: str | None = None,
    order_by: Iterable[str] | None = None,
    max_results: int | None = None,
    page_token: str | bytes | None = None,
    *,
    experiments: Iterable[str] | None = None,
    latest: Any = None,
    plain_words: bool = True,
    progress: Callable[[int, int], None] | None = None,
    also: Sequence[Clause] = (),
    words: Sequence[str] = (),
    count: bool = False,
) -> Found:
    """:func:`find_runs` with more: ``also`` (clauses that must hold as well), ``words`` (lowercase text each
    in the run's id, name or experiment) and ``count`` (the total)."""
    if max_results is not None and not (isinstance(max_results, int) and 1 <= max_results <= MAX_RESULTS):
        raise InvalidSearch(f"max_results must be a whole number from 1 to {MAX_RESULTS:,}; got {max_results!r}: fetch more pages")
    parsed = parse_filter(filter_string, plain_words=plain_words)
    words = (*(parsed.words if isinstance(parsed, Words) else ()), *words)
    clauses = [*([] if isinstance(parsed, Words) else parsed), *also]
    if len(clauses) > MAX_CLAUSES:
        raise InvalidSearch(f"a filter of {len(clauses)} conditions is too long (at most {MAX_CLAUSES}): narrow it down")
    order = parse_order_by(order_by)
    offset, after, after_key, after_values = _read_token(page_token)
    build = _builder(latest or LatestValues())
    chosen = sorted(experiments) if experiments is not None else None

    def query(db: Any) -> tuple[list[tuple[str, str]], int | None, list[Any] | None]:
        compiled = compile_search(clauses, words, order, chosen)
        texts, total = page(db, compiled, None if max_results is None else max_results + 1, offset, after, count, after_key, after_values)
        last = None
        if max_results is not None and len(texts) > max_results:  # where this page ends, for the next
            last = sort_values(db, compiled, texts[max_results - 1][0])
        return texts, total, last

    index = index_for(store)
    try:
        answer = _search_index(index, build, query, progress)
    except UnicodeEncodeError as exc:  # a lone surrogate in the filter: SQLite takes only valid text
        raise InvalidSearch(f"the filter holds text that is not valid Unicode ({exc.reason}): {filter_string!r}") from exc
    if answer is None:  # no usable index (a read-only store): every run read, searched in Python
        rows = [row for _key, run_dir in index.listing(chosen) for row in [build(run_dir)] if row is not None]
        matched = order_rows(newest_first(filter_rows(filter_rows(rows, clauses), Words(tuple(words)) if words else [])), order)
        if max_results is None:
            return Found(matched, None, len(matched))
        got, token = paginate(matched, page_token, max_results)
        return Found(got, token, len(matched))
    texts, total, last = answer
    rows = [_decoded(store, text) for _key, text in texts]
    token = None
    if max_results is not None and len(rows) > max_results:
        rows = rows[:max_results]
        token = _token(offset + len(rows), rows[-1].run_id, texts[len(rows) - 1][0], last)
    return Found(rows, token, total)


def runs_by_created(
    store: Path, experiment: str, *, include_children: bool = False, run_type: str | None = None, page_size: int = 500
) -> Iterator[RunRow]:
    """The runs of one experiment, newest ``created`` first (then run id, descending: Azure ML's
    ``get_runs`` order), top-level only unless ``include_children``, of ``run_type`` when given: read from
    the run index a page at a time (keyset pages over an index of the order), so the first runs come at
    once in an experiment of 100,000. A run that could not be read is dated by its folder's time."""
    build = _builder(LatestValues())
    where, params = ["newest IS NOT NULL", "experiment = ?"], [experiment]
    if not include_children:
        where.append("parent_id IS NULL")
    if run_type is not None:
        where.append("run_type = ?")
        params.append(run_type)
    index = index_for(store)
    undated = f"SELECT t.row FROM runs JOIN texts t ON t.key = runs.key WHERE {' AND '.join(where)} AND created IS NULL"
    first = _search_index(index, build, lambda db: [t for (t,) in db.execute(undated, params)])
    if first is None:  # no usable index: every run read, ordered in Python
        rows, _ = find_runs(store, experiments=[experiment], plain_words=False)
        rows = [r for r in rows if (include_children or not r.parent_id) and (run_type is None or r.run_type == run_type)]
        yield from sorted(rows, key=_created_key, reverse=True)
        return
    late = sorted((_decoded(store, text) for text in first), key=_created_key, reverse=True)
    yield from heapq.merge(_dated(store, index, build, where, params, page_size), late, key=_created_key, reverse=True)


def _dated(
    store: Path, index: RunIndex, build: Callable[[Path], RunRow | None], where: list[str], params: list[Any], size: int
) -> Iterator[RunRow]:
    after: tuple[Any, str] | None = None
    while True:
        condition = " AND ".join([*where, "created IS NOT NULL"])
        more: list[Any] = []
        if after is not None:
            condition += " AND (created < ? OR (created = ? AND run_id < ?))"
            more = [after[0], after[0], after[1]]
        sql = f"SELECT t.row FROM runs JOIN texts t ON t.key = runs.key WHERE {condition} ORDER BY created DESC, run_id DESC LIMIT {int(size)}"
        texts = _search_index(index, build, functools.partial(_texts, sql=sql, params=[*params, *more]))
        rows = [_decoded(store, text) for text in texts or []]
        yield from rows
        if len(rows) < size:
            return
        after = (rows[-1].created, rows[-1].run_id)


def _texts(db: Any, sql: str, params: list[Any]) -> list[str]:
    return [text for (text,) in db.execute(sql, params)]


def _created_key(row: RunRow) -> tuple[float, str]:
    created = row.created
    if created is None:  # a run that could not be read at all: dated by its folder
        try:
            created = os.stat(row.ref).st_mtime
        except (OSError, TypeError):
            created = 0.0
    return (created, row.run_id)


def _decoded(store: Path, text: str) -> RunRow:
    row = decode_row(text)
    row.ref = store / layout.EXPERIMENTS_DIR / row.experiment / layout.RUNS_DIR / row.run_id
    return row


def run_counts(store: Path, latest: Any = None) -> dict[str, int]:
    """How many runs each experiment has (children too), from the run index."""
    build = _builder(latest or LatestValues())
    query = "SELECT experiment, count(*) FROM runs WHERE newest IS NOT NULL GROUP BY experiment"
    index = index_for(store)
    counts: dict[str, int] | None = _search_index(index, build, lambda db: dict(db.execute(query).fetchall()))
    if counts is None:  # no usable index: the run folders with a record
        counts = {}
        for key, run_dir in index.listing():
            if (run_dir / layout.RUN_RECORD).is_file():
                counts[key.split("/", 1)[0]] = counts.get(key.split("/", 1)[0], 0) + 1
    return counts


def _builder(latest: Any) -> Callable[[Path], RunRow | None]:
    def build(run_dir: Path) -> RunRow | None:
        if not os.path.isfile(os.path.join(run_dir, layout.RUN_RECORD)):
            return None  # not a run (yet: its record is written last)
        try:
            return run_row(run_dir, latest)
        except Exception as exc:  # one unreadable run never hides the others: listed, marked damaged
            return RunRow(run_dir.name, experiment=run_dir.parent.parent.name, status="Damaged", tags={"damaged": str(exc)})

    return build


def _search_index(index: RunIndex, build: Callable[[Path], RunRow | None], query: Callable[[Any], _T], progress: Any = None) -> _T | None:
    return index.search(
        build, entry, query, progress,
        keep=lambda row: row.status != "Damaged",  # a read that failed (EMFILE...) is tried again next time
        settled=lambda row: row.status in _ENDED,  # an ended run: checked by its events folder's time
    )  # fmt: skip


def _read_token(page_token: str | bytes | None) -> tuple[int, str | None, str | None, list[Any] | None]:
    """``(offset, run id, index key, ORDER BY terms)`` of the last run of the previous page, from a page token
    (see :func:`paginate`; MLflow's own tokens hold only the offset)."""
    if not page_token:
        return 0, None, None, None
    try:
        token = json.loads(base64.b64decode(page_token))
        offset = int(token["offset"])
        after, key, values = token.get("after"), token.get("key"), token.get("sort")
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise InvalidSearch(f"invalid page token {page_token!r}: pass the token a previous page returned") from exc
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidSearch(f"invalid page token {page_token!r}: its offset is out of range; pass the token a previous page returned")
    plain = isinstance(values, list) and all(v is None or isinstance(v, (str, int, float)) for v in values)
    return offset, after if isinstance(after, str) else None, key if isinstance(key, str) else None, values if plain else None


def _token(offset: int, after: str, key: str | None = None, values: list[Any] | None = None) -> str:
    token: dict[str, Any] = {"offset": offset, "after": after}
    if key is not None:  # run ids are unique within an experiment only: the index key names the run
        token["key"] = key
    if values is not None:  # where the page ended in the order: the next page starts there
        token["sort"] = values
    return base64.b64encode(json.dumps(token).encode()).decode()


def entry(row: Any) -> Entry:
    """What the index stores of a search row (:class:`runlog._store.search.RunRow`)."""
    start = row.start_time
    columns = {
        "experiment": row.experiment, "run_id": row.run_id, "run_name": row.run_name, "status": row.status,
        "mlflow_status": MLFLOW_STATUS.get(row.status, row.status), "start_time": start, "end_time": row.end_time,
        "newest": start or 0, "user_id": row.user_id, "experiment_id": row.experiment_id,
        "artifact_uri": row.artifact_uri, "lifecycle_stage": row.lifecycle_stage,
        "words": f"{row.run_id}\n{row.run_name}\n{row.experiment}".lower(), "created": row.created,
        "parent_id": row.parent_id, "run_type": row.run_type,
    }  # fmt: skip
    assert set(columns) == set(COLUMNS)
    values: list[tuple[str, str, float | None, int, str | None]] = []
    for name, value in row.metrics.items():
        nan = isinstance(value, float) and math.isnan(value)
        values.append(("m", name, None if nan else float(value), int(nan), None))
    values.extend(("p", name, None, 0, str(value)) for name, value in row.params.items())
    values.extend(("t", name, None, 0, str(value)) for name, value in row.tags.items())
    return Entry(encode_row(row), columns, values)


def encode_row(row: RunRow) -> str:
    """A row as the run index stores it (JSON; NaN and infinities as Python's json writes them)."""
    data = {f: getattr(row, f) for f in _ROW_FIELDS}
    return json.dumps(data)


def decode_row(text: str) -> RunRow:
    data = json.loads(text)
    return RunRow(**{f: data[f] for f in _ROW_FIELDS})


_ROW_FIELDS = (
    "run_id", "experiment", "run_name", "status", "start_time", "end_time", "user_id", "experiment_id",
    "artifact_uri", "lifecycle_stage", "metrics", "metric_points", "params", "tags", "created", "parent_id", "run_type",
)  # fmt: skip
_indexes: dict[Path, Any] = {}


def index_for(store: Path) -> Any:
    """This process's :class:`runlog._store.index.RunIndex` of ``store`` (one per store: it keeps rows in memory)."""
    index = _indexes.get(store)
    if index is None:
        index = _indexes[store] = RunIndex(store)
    return index
