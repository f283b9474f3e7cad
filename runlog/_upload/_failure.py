"""Why an upload did not go through: an uploader's last failed request, classified, with what to do.

Every failed request of an uploader (each retry attempt, a refusal, a bug in a target) becomes
an :class:`UploadFailure`: the kind of failure, the exception class (and the foreign one it was
translated from), the HTTP status and a short excerpt of the answer when there was one, and the
endpoint. The warning a run gives when its upload did not finish, and ``runlog sync``, say it
in words with the fix: the target refused the request (a 4xx: credentials, address, content),
the server failed (a 5xx, 429), no answer came in time, or the server could not be reached.
"""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .._errors import UploadRejected, UploadUnavailable

__all__ = ["BUSY", "REFUSED", "SERVER", "TIMEOUT", "UNEXPECTED", "UNREACHABLE", "UploadFailure", "busy", "classify"]

REFUSED = "refused"  # the target answered no: retrying the same request cannot help
SERVER = "server"  # the server answered that it failed or is overloaded (5xx, 429, 408): retried
TIMEOUT = "timeout"  # no answer in time: retried
UNREACHABLE = "unreachable"  # no connection (refused, DNS, TLS, reset): retried
UNEXPECTED = "unexpected"  # anything else: a bug in runlog or a target
BUSY = "busy"  # another process holds the run's upload lock

_EXCERPT = 200


@dataclass(frozen=True)
class UploadFailure:
    """The last failed request of an uploader.

    ``kind`` is one of ``refused``, ``server``, ``timeout``, ``unreachable``, ``unexpected``,
    ``busy``; ``error`` the exception class, with the foreign one it came from in brackets
    (``UploadUnavailable (ConnectError)``); ``status`` the HTTP status, if an answer came;
    ``excerpt`` the answer's message or the error's text (at most 200 characters); ``what``
    the request; ``hint`` the target's fix for a refusal.
    """

    kind: str
    endpoint: str
    what: str = ""
    error: str = ""
    status: int | None = None
    excerpt: str = ""
    hint: str = ""
    time: float = field(default_factory=time.time)

    @property
    def reason(self) -> str:
        """What happened, in one clause."""
        said = f": {self.excerpt}" if self.excerpt else ""
        on = f" on {self.what!r}" if self.what else ""
        if self.kind == REFUSED:
            refused = "the credentials" if self.status in (401, 403) else "the request"
            answer = f"HTTP {self.status}" if self.status is not None else self.error
            return f"{self.endpoint} refused {refused} ({answer}{said}){on}"
        if self.kind == SERVER:
            state = "is overloaded" if self.status in (429, 503) else "failed"
            return f"the server at {self.endpoint} {state} (HTTP {self.status}{said}){on}"
        if self.kind == TIMEOUT:
            return f"no answer from {self.endpoint} in time ({self.error}){on}"
        if self.kind == UNREACHABLE:
            return f"cannot reach {self.endpoint}: {self.excerpt or 'no connection'} ({self.error})"
        if self.kind == BUSY:
            return "another process is uploading this run"
        return f"an unexpected error ({self.error}{said}){on}"

    @property
    def advice(self) -> str:
        """What to do about it."""
        if self.kind == REFUSED:
            return self.hint or "see the server's answer; retrying the same request cannot help"
        if self.kind == SERVER:
            return "the server's own failure: runlog retries with backoff; if it persists, look at the server's log"
        if self.kind == TIMEOUT:
            return (
                "the server is slow or stuck: runlog retries; if it is only slow, raise the request timeout "
                "(RUNLOG_UPLOAD_REQUEST_TIMEOUT, or OTEL_EXPORTER_OTLP_TIMEOUT for OTLP)"
            )
        if self.kind == UNREACHABLE:
            return "check that the server is running and that the tracking URI names it; runlog retries"
        if self.kind == BUSY:
            return "that process sends it; run `runlog sync` after it ended if anything is left"
        return "a bug in runlog or the target: set the 'runlog' logger to DEBUG for the traceback and report it"

    @property
    def retried(self) -> bool:
        """True for the failures runlog retries by itself."""
        return self.kind in (SERVER, TIMEOUT, UNREACHABLE)

    def __str__(self) -> str:
        return f"{self.reason}; {self.advice}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "endpoint": self.endpoint,
            "what": self.what,
            "error": self.error,
            "status": self.status,
            "excerpt": self.excerpt,
            "hint": self.hint,
            "time": self.time,
            "message": str(self),
        }


def busy(endpoint: str) -> UploadFailure:
    """The failure of an uploader that could not take the run's upload lock."""
    return UploadFailure(BUSY, endpoint, error="lock held")


def classify(exc: BaseException, *, endpoint: str, what: str = "") -> UploadFailure:
    """The :class:`UploadFailure` of ``exc``, raised by a request ``what`` to ``endpoint``."""
    status = getattr(exc, "status", None) if isinstance(exc, (UploadRejected, UploadUnavailable)) else None
    text = " ".join(str(exc).split())
    excerpt = _excerpt(text, status)
    foreign = _foreign_cause(exc)
    error = type(exc).__name__ + (f" ({type(foreign).__name__})" if foreign is not None else "")
    if isinstance(exc, UploadRejected):
        return UploadFailure(REFUSED, endpoint, what, error, status, excerpt, exc.hint)
    if isinstance(exc, UploadUnavailable):
        if status is not None:
            return UploadFailure(SERVER, endpoint, what, error, status, excerpt)
        chain = list(_chain(exc))
        if any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in chain):
            return UploadFailure(TIMEOUT, endpoint, what, error, None, excerpt)
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            excerpt = "connection refused"
        elif any(isinstance(e, socket.gaierror) for e in chain):
            excerpt = "the host name does not resolve"
        elif any(isinstance(e, ssl.SSLError) for e in chain):
            excerpt = "the TLS handshake failed"
        elif any(isinstance(e, ConnectionResetError) for e in chain):
            excerpt = "the connection was reset"
        return UploadFailure(UNREACHABLE, endpoint, what, error, None, excerpt)
    return UploadFailure(UNEXPECTED, endpoint, what, error, None, excerpt)


def _excerpt(text: str, status: int | None) -> str:
    """The answer's part of an error message (after ``HTTP <status>``), else the message, cut short."""
    if status is not None:
        marker = f"HTTP {status}"
        at = text.find(marker)
        if at >= 0:
            text = text[at + len(marker) :].lstrip(" :")
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it (``__cause__``/``__context__``, a ``URLError``'s reason), a few levels deep."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None) if isinstance(current, urllib.error.URLError) else None
        current = reason if isinstance(reason, BaseException) else current.__cause__ or current.__context__


def _foreign_cause(exc: BaseException) -> BaseException | None:
    """The first exception behind ``exc`` that is not runlog's (the transport's), if any."""
    for cause in list(_chain(exc))[1:]:
        if not type(cause).__module__.startswith("runlog"):
            return cause
    return None
