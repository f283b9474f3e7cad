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
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import RunlogError
from ._mlflow_names import MLFLOW_STATUS

__all__ = [
    "InvalidSearch",
    "RunRow",
    "filter_rows",
    "find_runs",
    "iter_run_dirs",
    "paginate",
    "parse_filter",
    "parse_order_by",
    "run_row",
    "search",
    "sort_rows",
]

EXAMPLE = "metrics.val_acc > 0.9 and params.lr = '0.01'"

_TYPES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "property": "param", "properties": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
}  # fmt: skip
_STRING_ATTRIBUTES = {"run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage", "experiment_id", "experiment"}
_NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
_ALIASES = {"created": "start_time", "Created": "start_time", "run name": "run_name", "Run name": "run_name", "Run Name": "run_name"}
_NUMERIC_OPS = {"=", "!=", ">", ">=", "<", "<="}
_STRING_OPS = {"=", "!=", "LIKE", "ILIKE"}


class InvalidSearch(RunlogError, ValueError):
    """A filter or order-by clause that does not parse; the message shows where and an example."""


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


@dataclass(frozen=True)
class Clause:
    kind: str  # metric, param, tag, attribute
    key: str
    op: str  # =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL
    value: Any = None


@dataclass(frozen=True)
class Words:
    """A plain-word search: every word in the run's id, name or experiment."""

    words: tuple[str, ...]


# -- parsing ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.|'')*')
    | (?P<dq>"(?:[^"\\]|\\.)*")
    | (?P<bq>`[^`]*`)
    | (?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<op>!=|<>|>=|<=|=|<|>)
    | (?P<punct>[(),.])
    | (?P<word>[A-Za-z_][\w\-/:]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            pos += len(text[pos:]) - len(text[pos:].lstrip())
            raise InvalidSearch(_where(text, pos, "a name, a comparator or a value"))
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


def _where(text: str, pos: int, expected: str) -> str:
    got = repr(text[pos : pos + 20]) if pos < len(text) else "the end"
    return f"cannot read the search {text!r} at position {pos}: expected {expected}, got {got}. Example: {EXAMPLE}"


def _unquote(kind: str, raw: str) -> str:
    if kind == "str":
        return raw[1:-1].replace("''", "'").replace("\\'", "'")
    if kind in ("dq", "bq"):
        return raw[1:-1]
    return raw


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, expected: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise InvalidSearch(_where(self.text, len(self.text), expected))
        self.i += 1
        return token

    def fail(self, expected: str) -> InvalidSearch:
        token = self.peek()
        return InvalidSearch(_where(self.text, token[2] if token else len(self.text), expected))

    def identifier(self) -> tuple[str, str]:
        kind, raw, _ = self.take("a key such as metrics.loss, params.lr, tags.team or attributes.status")
        if kind in ("bq", "dq"):
            return "attribute", _ALIASES.get(_unquote(kind, raw), _unquote(kind, raw))
        if kind != "word":
            self.i -= 1
            raise self.fail("a key such as metrics.loss, params.lr, tags.team or attributes.status")
        nxt = self.peek()
        if nxt is not None and nxt[1] == ".":
            self.i += 1
            entity = _TYPES.get(raw.lower()) if raw.lower() in _TYPES else None
            if entity is None:
                raise InvalidSearch(
                    f"unknown key type {raw!r} in the search {self.text!r}: use metrics., params. (or properties.), "
                    f"tags. or attributes.. Example: {EXAMPLE}"
                )
            parts = []
            while True:  # a key may itself contain dots (metrics.val.acc) unless quoted
                k, r, _ = self.take("the key after " + raw + ".")
                if k not in ("word", "bq", "dq", "str", "num"):
                    self.i -= 1
                    raise self.fail("the key after " + raw + ".")
                parts.append(_unquote(k, r))
                nxt = self.peek()
                if nxt is None or nxt[1] != "." or k in ("bq", "dq", "str"):
                    break
                self.i += 1
            key = ".".join(parts)
            return entity, (_ALIASES.get(key, key) if entity == "attribute" else key)
        return "attribute", _ALIASES.get(raw, raw)

    def value(self, numeric: bool) -> Any:
        kind, raw, pos = self.take("a value")
        if kind == "num":
            return float(raw) if numeric or not raw.lstrip("+-").isdigit() else int(raw)
        if kind in ("str", "dq"):
            if numeric:
                raise InvalidSearch(_where(self.text, pos, "a number (metrics and times compare as numbers)"))
            return _unquote(kind, raw)
        raise InvalidSearch(_where(self.text, pos, "a value: a number, or text in single quotes"))

    def clause(self) -> Clause:
        entity, key = self.identifier()
        kind, raw, pos = self.take("a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)")
        op = raw.upper() if kind == "word" else ("!=" if raw == "<>" else raw)
        if op == "NOT":
            _nk, nraw, _ = self.take("IN after NOT")
            if nraw.upper() != "IN":
                self.i -= 1
                raise self.fail("IN after NOT")
            op = "NOT IN"
        if op == "IS":
            _nk, nraw, _ = self.take("NULL or NOT NULL after IS")
            if nraw.upper() == "NOT":
                _nk, nraw, _ = self.take("NULL after IS NOT")
                op = "IS NOT NULL"
            else:
                op = "IS NULL"
            if nraw.upper() != "NULL":
                self.i -= 1
                raise self.fail("NULL")
            return Clause(entity, key, op)
        if op not in _NUMERIC_OPS | _STRING_OPS | {"IN", "NOT IN"}:
            raise InvalidSearch(_where(self.text, pos, "a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)"))
        numeric = entity == "metric" or (entity == "attribute" and key in _NUMERIC_ATTRIBUTES)
        if entity == "attribute" and key not in _STRING_ATTRIBUTES | _NUMERIC_ATTRIBUTES:
            known = ", ".join(sorted(_STRING_ATTRIBUTES | _NUMERIC_ATTRIBUTES))
            raise InvalidSearch(f"unknown attribute {key!r} in the search {self.text!r}; attributes are {known}")
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op in ("IN", "NOT IN"):
            if numeric:
                raise InvalidSearch(f"{op} compares text, not numbers ({entity}.{key}) in the search {self.text!r}")
            self.take("( after " + op)
            values = [self.value(False)]
            while (tok := self.peek()) is not None and tok[1] == ",":
                self.i += 1
                values.append(self.value(False))
            _k, r, _ = self.take(") closing the list")
            if r != ")":
                self.i -= 1
                raise self.fail(") closing the list")
            return Clause(entity, key, op, tuple(str(v) for v in values))
        if op not in allowed:
            what = "numbers" if numeric else "text"
            raise InvalidSearch(
                f"{op} does not apply to {entity}.{key} ({what}: use one of {', '.join(sorted(allowed))}) "
                f"in the search {self.text!r}"
            )
        value = self.value(numeric)
        return Clause(entity, key, op, float(value) if numeric and entity == "metric" else value if numeric else str(value))

    def parse(self) -> list[Clause]:
        clauses = [self.clause()]
        while self.peek() is not None:
            _kind, raw, _ = self.take("AND")
            if raw.upper() != "AND":
                self.i -= 1
                raise self.fail("AND between conditions (OR is not supported, as in MLflow)")
            clauses.append(self.clause())
        return clauses


def parse_filter(text: str | None, *, plain_words: bool = False) -> list[Clause] | Words:
    """The clauses of a filter (``[]`` for none); with ``plain_words``, text with no comparator is a word search."""
    if text is None or not text.strip():
        return []
    if plain_words and not re.search(r"[=<>!]|\b(?:like|ilike|in|is)\b", text, re.IGNORECASE):
        return Words(tuple(w.lower() for w in text.split()))
    return _Parser(text).parse()


def parse_order_by(items: Iterable[str] | None) -> list[tuple[str, str, bool]]:
    """``["metrics.acc DESC", "attributes.start_time"]`` -> ``[(kind, key, ascending), ...]``."""
    parsed = []
    for item in items or []:
        text = item.strip()
        ascending = True
        m = re.search(r"\s+(asc|desc)$", text, re.IGNORECASE)
        if m:
            ascending = m.group(1).lower() == "asc"
            text = text[: m.start()]
        parser = _Parser(text)
        entity, key = parser.identifier()
        if parser.peek() is not None:
            raise parser.fail("ASC or DESC after the key")
        if entity == "attribute" and key not in _STRING_ATTRIBUTES | _NUMERIC_ATTRIBUTES:
            raise InvalidSearch(f"cannot order by unknown attribute {key!r}; e.g. order by 'metrics.val_acc DESC'")
        parsed.append((entity, key, ascending))
    return parsed


# -- matching, sorting, paging --------------------------------------------------------------------


def _like(flags: int) -> Callable[[Any, Any], bool]:
    def compare(lhs: Any, pattern: Any) -> bool:
        regex = re.escape(str(pattern)).replace("%", ".*").replace("_", ".")
        regex = ("" if str(pattern).startswith("%") else "^") + regex + ("" if str(pattern).endswith("%") else "$")
        return re.match(regex, str(lhs), flags) is not None

    return compare


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "LIKE": _like(0),
    "ILIKE": _like(re.IGNORECASE),
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
    return [r for r in rows if all(_matches(r, c) for c in clauses)]


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
    ordered = sorted(rows, key=lambda r: (-(r.start_time or 0), r.run_id))
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
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
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
    from ._mlflow_names import experiment_id
    from ._store import RunReader, layout
    from ._store.latest import LatestValues

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
    from ._store import layout

    root = store / layout.EXPERIMENTS_DIR
    try:
        names = sorted(experiments) if experiments is not None else sorted(p.name for p in root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        runs_dir = root / name / layout.RUNS_DIR
        try:
            with os.scandir(runs_dir) as entries:
                found = sorted(e.name for e in entries if e.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            continue
        yield from (runs_dir / run for run in found)


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
    :class:`runlog._store.latest.LatestValues` kept between calls (incremental reads). Rows come from
    the run index (``<store>/index.sqlite3``) for runs unchanged since they were indexed; ``progress(done,
    total)`` is called while runs are read anew (a first open of a large store).
    """
    from ._store.latest import LatestValues

    latest = latest or LatestValues()

    def build(run_dir: Path) -> RunRow | None:
        if not (run_dir / "run.json").is_file():
            return None  # not a run (yet: its record is written last)
        try:
            return run_row(run_dir, latest)
        except Exception as exc:  # one unreadable run never hides the others: listed, marked damaged
            return RunRow(run_dir.name, experiment=run_dir.parent.parent.name, status="Damaged", tags={"damaged": str(exc)})

    rows = index_for(store).rows(
        iter_run_dirs(store, experiments), build, encode_row, decode_row, progress,
        keep=lambda row: row.status != "Damaged",  # a read that failed (EMFILE...) is tried again next time
        settled=lambda row: row.status in _ENDED,  # an ended run: checked by its events folder's time
    )  # fmt: skip
    for row in rows:
        if row.ref is None:
            row.ref = store / "experiments" / row.experiment / "runs" / row.run_id
    return search(rows, filter_string, order_by, max_results, page_token, plain_words=plain_words)


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
    from ._store.index import RunIndex

    index = _indexes.get(store)
    if index is None:
        index = _indexes[store] = RunIndex(store)
    return index
