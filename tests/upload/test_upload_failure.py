"""runlog._upload._failure: every failure an uploader can meet is classified, with its cause and its fix."""

from __future__ import annotations

import socket
import urllib.error

from runlog._errors import UploadRejected, UploadUnavailable
from runlog._upload._failure import UploadFailure, busy, classify


def _raised(exc: BaseException, cause: BaseException | None = None) -> BaseException:
    """``exc`` as it is after ``raise exc from cause`` (with its __cause__ set)."""
    try:
        raise exc from cause
    except BaseException as caught:
        return caught


def test_refusals_keep_status_excerpt_and_the_targets_hint() -> None:
    """A 4xx is 'refused'; 401/403 name the credentials; the answer's message is the excerpt; the hint is the advice."""
    exc = UploadRejected(
        "log 1 metric(s): HTTP 403 PERMISSION_DENIED: no access",
        status=403,
        code="PERMISSION_DENIED",
        hint="ask for access",
    )
    failure = classify(exc, endpoint="http://e", what="log 1 metric(s)")
    assert (failure.kind, failure.status, failure.excerpt) == ("refused", 403, "PERMISSION_DENIED: no access")
    assert (
        str(failure)
        == "http://e refused the credentials (HTTP 403: PERMISSION_DENIED: no access) on 'log 1 metric(s)'; ask for access"
    )
    odd = classify(UploadRejected("not JSON", hint="check the URI"), endpoint="http://e")
    assert odd.kind == "refused" and odd.status is None and "UploadRejected: not JSON" in odd.reason


def test_transport_failures_are_told_apart_by_their_cause() -> None:
    """Refused connection, unknown host, timeout and a 5xx are each named, from the foreign cause behind the error."""
    refused = _raised(UploadUnavailable("x"), urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))
    assert classify(refused, endpoint="e").excerpt == "connection refused"
    assert classify(refused, endpoint="e").error == "UploadUnavailable (URLError)"
    dns = _raised(UploadUnavailable("x"), socket.gaierror(-2, "Name or service not known"))
    assert classify(dns, endpoint="e").excerpt == "the host name does not resolve"
    slow = _raised(UploadUnavailable("timed out"), TimeoutError("timed out"))
    assert classify(slow, endpoint="e").kind == "timeout"
    busy_server = classify(UploadUnavailable("w: HTTP 503: " + "x" * 500, status=503), endpoint="e")
    assert busy_server.kind == "server" and "is overloaded" in busy_server.reason and len(busy_server.excerpt) == 200
    assert all(f.retried for f in (classify(refused, endpoint="e"), classify(slow, endpoint="e"), busy_server))


def test_anything_else_is_unexpected_and_a_held_lock_is_busy() -> None:
    """A bug in a target says so (and how to report it); another process uploading the run is not an error of the server."""
    bug = classify(RuntimeError("boom"), endpoint="e", what="an upload pass")
    assert (
        bug.kind == "unexpected"
        and not bug.retried
        and "RuntimeError: boom" in bug.reason
        and "report it" in bug.advice
    )
    held = busy("e")
    assert isinstance(held, UploadFailure) and "another process" in str(held)
    assert held.to_json()["message"] == str(held)
