"""MLflow's search syntax, parsed: filter strings into clauses, order-by clauses into keys.

The grammar is a conjunction of comparisons (``metrics.val_acc > 0.9 and params.lr = '0.01'``)
with MLflow's identifiers, comparators and quoting, plus runlog's additions (``properties.`` for
``params.``, ``attributes.experiment``, plain words); :mod:`runlog._store.search` matches the clauses
against runs. A small hand-written tokenizer, not ``sqlparse`` (MLflow's choice): the core must not
depend on MLflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .._errors import RunlogError

__all__ = ["EXAMPLE", "Clause", "InvalidSearch", "Words", "like", "parse_filter", "parse_order_by"]

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


def like(value: Any, pattern: Any, ignore_case: bool = False) -> bool:
    """MLflow's ``LIKE`` (``ILIKE`` with ``ignore_case``): ``%`` any text, ``_`` one character."""
    text = str(pattern)
    regex = re.escape(text).replace("%", ".*").replace("_", ".")
    regex = ("" if text.startswith("%") else "^") + regex + ("" if text.endswith("%") else "$")
    return re.match(regex, str(value), re.IGNORECASE if ignore_case else 0) is not None


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
