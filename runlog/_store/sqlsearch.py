"""MLflow's search compiled to SQL over the run index: only a page of rows is ever decoded.

The filter parser (:mod:`runlog._store.filters`) is the one front end; this module is one of its two
back ends, the other being the Python predicates of :mod:`runlog._store.search` (used when a store has
no usable index). ``tests/store/test_index_sql.py`` holds the two equal on generated rows and searches.

A run's metrics, params and tags are rows of ``vals`` (``kind`` ``m``/``p``/``t``, ``name``, ``num`` or
``text``; a NaN metric is ``num`` NULL with ``nan`` 1, as SQLite keeps no NaN); attributes are columns
of ``runs`` (:data:`runlog._store.index.COLUMNS`). A comparison is an ``EXISTS`` over ``vals`` (a run
lacking the key does not match, as in MLflow), an order-by key a ``LEFT JOIN`` ranked so that values come
first, then NaN, then missing, whatever the direction; ties go newest first, then by run id and key.
``LIKE``/``ILIKE`` call the parser's own :func:`runlog._store.filters.like` (registered as ``rl_like``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .filters import Clause

__all__ = ["Compiled", "compile_search", "page"]

_KIND = {"metric": "m", "param": "p", "tag": "t"}
_OPS = {"=", "!=", ">", ">=", "<", "<="}


@dataclass
class Compiled:
    """A search as SQL pieces: joins for the order-by keys, the WHERE condition, the ORDER BY terms."""

    joins: list[str] = field(default_factory=list)
    join_params: list[Any] = field(default_factory=list)
    where: list[str] = field(default_factory=list)  # the conditions, a value's as EXISTS
    where_in: list[str] = field(default_factory=list)  # the same, a value's as IN (same parameters)
    where_params: list[Any] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (expression, ascending)
    source: str = "runs"
    #: The same search over the runs that have the first order-by key, driven by that key's index (a first
    #: page ordered by a metric reads its rows in order and stops at the page's end, not 100,000 rows).
    fast: Compiled | None = None


    def add(self, condition: str) -> None:
        """A condition written the same way in both forms."""
        self.where.append(condition)
        self.where_in.append(condition)


def _in(values: Sequence[Any]) -> str:
    return "(" + ",".join("?" * len(values)) + ")"


def _condition(clause: Clause, out: Compiled) -> None:
    op, value = clause.op, clause.value
    if clause.kind in _KIND:
        kind = _KIND[clause.kind]
        params: list[Any] = [kind, clause.key]
        column = "v.num" if kind == "m" else "v.text"
        negated, test = False, ""
        if op in ("IS NULL", "IS NOT NULL"):
            negated = op == "IS NULL"
        elif op in ("LIKE", "ILIKE"):
            test = f" AND rl_like({column}, ?, {int(op == 'ILIKE')})"
            params.append(value)
        elif op in ("IN", "NOT IN"):
            test = f" AND {column} {op} {_in(value)}"
            params.extend(value)
        elif op == "!=" and kind == "m":  # NaN is unequal to everything
            test = " AND (v.num != ? OR v.nan)"
            params.append(value)
        else:
            test = f" AND {column} {op} ?"
            params.append(value)
        no = "NOT " if negated else ""
        # EXISTS per row where few rows are visited (a page read in an order key's index); IN (one set
        # built through the values' index) where every row is (a whole search, a count).
        out.where.append(f"{no}EXISTS (SELECT 1 FROM vals v WHERE v.key = runs.key AND v.kind = ? AND v.name = ?{test})")
        out.where_in.append(f"runs.key {no}IN (SELECT v.key FROM vals v WHERE v.kind = ? AND v.name = ?{test})")
        out.where_params.extend(params)
        return
    column = "runs." + clause.key
    if op in ("IS NULL", "IS NOT NULL"):
        out.add(f"{column} {op}")
        return
    names = [column, "runs.mlflow_status"] if clause.key == "status" else [column]  # runlog's and MLflow's name
    negated = op in ("!=", "NOT IN") and len(names) > 1
    op = {"!=": "=", "NOT IN": "IN"}.get(op, op) if negated else op
    if op in ("LIKE", "ILIKE"):
        tests = [f"rl_like({n}, ?, {int(op == 'ILIKE')})" for n in names]
        params = [value] * len(names)
    elif op in ("IN", "NOT IN"):
        tests = [f"{n} {op} {_in(value)}" for n in names]
        params = [v for _n in names for v in value]
    else:
        tests = [f"{n} {op} ?" for n in names]
        params = [value] * len(names)
    out.add(("NOT " if negated else "") + "(" + " OR ".join(tests) + ")")
    out.where_params.extend(params)


def compile_search(
    clauses: Sequence[Clause],
    words: Sequence[str],
    order_by: Sequence[tuple[str, str, bool]],
    experiments: Iterable[str] | None,
) -> Compiled:
    """The SQL of a search: ``clauses`` (all must hold), plain ``words`` (each in the run's id, name or
    experiment), ``order_by`` keys ``(kind, key, ascending)`` and the experiments searched."""
    out = Compiled()
    out.add("runs.newest IS NOT NULL")  # a run's row (not a folder waiting for its run.json)
    if experiments is not None:
        names = sorted(experiments)
        out.add(f"runs.experiment IN {_in(names)}")
        out.where_params.extend(names)
    for clause in clauses:
        _condition(clause, out)
    for word in words:
        out.add("instr(runs.words, ?) > 0")
        out.where_params.append(word)
    for i, (kind, key, ascending) in enumerate(order_by):
        if kind in _KIND:
            alias = f"o{i}"
            out.joins.append(f"LEFT JOIN vals {alias} ON {alias}.key = runs.key AND {alias}.kind = ? AND {alias}.name = ?")
            out.join_params.extend([_KIND[kind], key])
            value = f"{alias}.num" if kind == "metric" else f"{alias}.text"
            rank = f"(CASE WHEN {value} IS NOT NULL THEN 0 WHEN {alias}.nan THEN 1 ELSE 2 END)"
        else:
            value = "runs.mlflow_status" if key == "status" else "runs." + key
            rank = f"({value} IS NULL)"
        out.order += [(rank, True), (value, ascending)]
    out.order += [("runs.newest", False), ("runs.run_id", True), ("runs.key", True)]
    if order_by and order_by[0][0] in _KIND:
        kind, key, _ascending = order_by[0]
        value = "o0.num" if kind == "metric" else "o0.text"
        where = [*out.where, f"o0.kind = ? AND o0.name = ? AND {value} IS NOT NULL"]  # EXISTS: stops at the page's end
        out.fast = Compiled(
            joins=out.joins[1:], join_params=out.join_params[2:], where=where, where_in=where,
            where_params=[*out.where_params, _KIND[kind], key], order=out.order[1:],
            source="vals o0 JOIN runs ON runs.key = o0.key",
        )  # fmt: skip
    return out


def _after(order: list[tuple[str, bool]], values: Sequence[Any]) -> tuple[str, list[Any]]:
    """The condition "after the row whose ORDER BY terms are ``values``" (keyset paging)."""
    ors, params = [], []
    for j, (expr, ascending) in enumerate(order):
        ands = [f"{e} IS ?" for e, _a in order[:j]] + [f"{expr} {'>' if ascending else '<'} ?"]
        params.extend([*values[:j], values[j]])
        ors.append("(" + " AND ".join(ands) + ")")
    return "(" + " OR ".join(ors) + ")", params


def page(
    db: sqlite3.Connection,
    compiled: Compiled,
    limit: int | None,
    offset: int = 0,
    after: str | None = None,
    count: bool = False,
    after_key: str | None = None,
    after_values: Sequence[Any] | None = None,
) -> tuple[list[tuple[str, str]], int | None]:
    """``([(key, row JSON), ...], total)``: ``limit`` rows from ``offset``, or those after the run
    ``after_key`` (an index key, ``<experiment>/<run id>``; or ``after``, a run id, from older tokens) when it
    is still among the matches, or after the place ``after_values`` (that run's ORDER BY terms when its page
    was served: a run whose value changed since neither skips nor repeats a run); ``total`` (with ``count``)
    of all matches. One read transaction: another process's sync between the statements cannot leave a page
    short."""
    db.execute("BEGIN")
    try:
        return _page(db, compiled, limit, offset, after, count, after_key, after_values)
    finally:
        db.execute("COMMIT")


def _page(
    db: sqlite3.Connection,
    compiled: Compiled,
    limit: int | None,
    offset: int,
    after: str | None,
    count: bool,
    after_key: str | None,
    after_values: Sequence[Any] | None,
) -> tuple[list[tuple[str, str]], int | None]:
    keys = None
    if compiled.fast is not None and limit is not None and not offset and after is None and after_key is None and after_values is None:
        keys = _keys(db, compiled.fast, limit)
        if len(keys) < limit:  # runs lacking the key (or NaN) belong on this page too: the whole query
            keys = None
    if keys is None:
        keys = _keys(db, compiled, limit, offset, after, after_key, after_values)
    total = None
    if count:
        total = int(db.execute("SELECT count(*) FROM runs WHERE " + " AND ".join(compiled.where_in), compiled.where_params).fetchone()[0])
    texts: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        texts.update(db.execute(f"SELECT key, row FROM texts WHERE key IN {_in(part)}", part).fetchall())
    return [(k, texts[k]) for k in keys if k in texts], total


def _keys(
    db: sqlite3.Connection,
    compiled: Compiled,
    limit: int | None = None,
    offset: int = 0,
    after: str | None = None,
    after_key: str | None = None,
    after_values: Sequence[Any] | None = None,
) -> list[str]:
    """The keys of the runs ``compiled`` finds, in its order: ``limit`` of them from ``offset``, or after the
    place ``after_values`` (ORDER BY terms), or after the run ``after_key`` (or run id ``after``) when it
    still matches."""
    # Newest first (no order-by) reads the runs in an index's order and stops at the page's end: EXISTS per
    # run visited. Any other order sorts every match: IN, one set of matches built through the values' index.
    # (All the matches wanted, no limit: the IN form, whatever the order.)
    where = compiled.where if compiled.order[0][0] == "runs.newest" and limit is not None else compiled.where_in
    base = f"FROM {compiled.source} " + " ".join(compiled.joins) + " WHERE " + " AND ".join(where)
    params = [*compiled.join_params, *compiled.where_params]
    order_sql = ", ".join(f"{e} {'ASC' if a else 'DESC'}" for e, a in compiled.order)
    where_after, after_params = "", list[Any]()
    if after_values is not None and len(after_values) == len(compiled.order):
        condition, after_params = _after(compiled.order, after_values)
        where_after, offset = " AND " + condition, 0
    elif after is not None or after_key is not None:
        terms = ", ".join(e for e, _a in compiled.order)
        column, value = ("runs.key", after_key) if after_key is not None else ("runs.run_id", after)
        found = db.execute(f"SELECT {terms} {base} AND {column} = ? ORDER BY {order_sql} LIMIT 1", [*params, value]).fetchone()
        if found is not None:
            condition, after_params = _after(compiled.order, found)
            where_after, offset = " AND " + condition, 0
    sql = f"SELECT runs.key {base}{where_after} ORDER BY {order_sql}"
    tail: list[Any] = []
    if limit is not None or offset:
        sql += " LIMIT ? OFFSET ?"
        tail = [-1 if limit is None else limit, offset]
    return [k for (k,) in db.execute(sql, [*params, *after_params, *tail])]


def sort_values(db: sqlite3.Connection, compiled: Compiled, key: str) -> list[Any] | None:
    """The ORDER BY terms of the run ``key`` under ``compiled`` (where a page ended: the next starts after
    them), or None when it does not match. (The per-row EXISTS form: the IN form would build every match's set
    for one row.)"""
    base = f"FROM {compiled.source} " + " ".join(compiled.joins) + " WHERE " + " AND ".join(compiled.where)
    terms = ", ".join(e for e, _a in compiled.order)
    order_sql = ", ".join(f"{e} {'ASC' if a else 'DESC'}" for e, a in compiled.order)
    params = [*compiled.join_params, *compiled.where_params, key]
    found = db.execute(f"SELECT {terms} {base} AND runs.key = ? ORDER BY {order_sql} LIMIT 1", params).fetchone()
    return None if found is None else list(found)
