"""runlog's own diagnostics: the ``runlog`` logger tree, secret redaction, the system log.

- Every SDK module logs on a logger under ``runlog.`` (``runlog.store``,
  ``runlog.stdlib``, ``runlog.upload``...): DEBUG for the play-by-play, WARNING for
  what the user must act on. A ``NullHandler`` on ``runlog`` keeps them silent until
  the program configures logging.
- :func:`redact` is the one place that removes secrets (passwords and tokens in
  URIs, ``token=...``-style values, bearer tokens, well-known token shapes). A
  :class:`RedactingFilter` applies it to every record of the tree: it is attached
  to each ``runlog.*`` logger by :func:`get_logger` and :func:`install`, and
  :class:`runlog.RunHandler` applies it again before it writes a diagnostic.
- Diagnostics never reach a run's driver log. When a :class:`runlog.RunHandler`
  sees them (that is, at the level the program configured for ``runlog``) they go
  to the run's **system log**, ``logs/runlog_system.txt``.
"""

from __future__ import annotations

import logging
import re

__all__ = ["KNOWN_LOGGERS", "ROOT", "SYSTEM_LOG", "RedactingFilter", "get_logger", "install", "is_sdk_logger", "redact"]

ROOT = "runlog"
SYSTEM_LOG = "logs/runlog_system.txt"
MASK = "***"

_SECRET_KEY = (
    r"(?:[A-Za-z0-9]+[_\-])*(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|private[_\-]?key|client[_\-]?secret|auth|authorization|credential|credentials|sig|signature)"
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host and scheme://token@host: the whole userinfo goes.
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@:]*(?::[^/\s@]*)?@"), r"\1" + MASK + "@"),
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE), r"\1\2" + MASK),
    # key=value, key: value, "key": "value", ?key=value& (query strings, env dumps, dict reprs)
    (
        re.compile(
            r"""(?P<key>["']?\b""" + _SECRET_KEY + r"""\b["']?)(?P<sep>\s*[=:]\s*)(?P<q>["']?)(?!\*\*\*)(?!(?:Bearer|Basic|Token)\s)(?P<val>[^\s"'&,;}\])]+)""",
            re.IGNORECASE,
        ),
        r"\g<key>\g<sep>\g<q>" + MASK,
    ),
    # Well-known token shapes seen without a key: GitHub, OpenAI-style, Slack, AWS key ids, JWTs.
    (
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-[A-Za-z0-9\-_]{20,}"
            r"|xox[abprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})"
        ),
        MASK,
    ),
]
_QUICK = re.compile(
    r"://|bearer|basic|token|passw|pwd|secret|key|auth|credential|sig|gh[pousr]_|github_pat|sk-|xox|AKIA|eyJ",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with secrets replaced by ``***``.

    Removes the userinfo of URIs (``https://user:pw@host`` -> ``https://***@host``),
    the values of password/token/secret/key-like fields (``token=abc``,
    ``"api_key": "abc"``, ``?sig=abc``), bearer/basic credentials, and well-known
    token shapes (GitHub, Slack, AWS key ids, JWTs, ``sk-...``).
    """
    if not _QUICK.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and formatted exception text) with :func:`redact`; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler's handleError
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def _attach(logger: logging.Logger) -> logging.Logger:
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def get_logger(name: str) -> logging.Logger:
    """The SDK logger ``name`` (``runlog`` or ``runlog.<part>``), with the redacting filter attached."""
    if not is_sdk_logger(name):
        raise ValueError(f"SDK loggers live under 'runlog'; got {name!r} (use e.g. 'runlog.store')")
    return _attach(logging.getLogger(name))


# The SDK's loggers, created (and filtered) when runlog is imported, so that a module that
# calls logging.getLogger("runlog.upload") later gets the filtered logger too. New SDK
# modules should use get_logger(), which attaches the filter to any name.
KNOWN_LOGGERS = (
    "runlog", "runlog.store", "runlog.run", "runlog.stdlib", "runlog.structlog", "runlog.otel",
    "runlog.upload", "runlog.upload.mlflow", "runlog.upload.otlp", "runlog.submit", "runlog.cli",
    "runlog.ui", "runlog.sync",
)  # fmt: skip


def install() -> None:
    """Attach the redacting filter to the known SDK loggers and every ``runlog.*`` logger created so far."""
    for name in KNOWN_LOGGERS:
        _attach(logging.getLogger(name))
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and is_sdk_logger(name):
            _attach(logger)


def is_sdk_logger(name: str) -> bool:
    """True for ``runlog`` and the loggers under it (``runlog.store``), not for ``runlogger``."""
    return name[:6] == ROOT and (len(name) == 6 or name[6] == ".")
