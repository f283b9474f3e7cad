"""The retry policy of every uploader, in one place.

What is worth retrying is decided here and nowhere else:

* a transport failure (connection refused or reset, DNS, TLS) and a timeout, which
  targets raise as :class:`~runlog.UploadUnavailable`;
* an HTTP answer 408, 429, 500, 502, 503 or 504 (the statuses MLflow's own client
  retries), honouring ``Retry-After``;

and everything else (other 4xx, a 2xx the target cannot read) is
:class:`~runlog.UploadRejected`: the caller sets the data aside instead of retrying.
Waits grow exponentially with jitter (tenacity), or follow ``Retry-After``.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

from .._errors import UploadError, UploadRejected, UploadUnavailable

__all__ = [
    "RETRYABLE_STATUS",
    "RetryAfterOrBackoff",
    "UploadAborted",
    "UploadOptions",
    "call_with_retry",
    "error_for_response",
    "parse_retry_after",
]

_log = logging.getLogger("runlog.upload")

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# A server asking for more than this is not waited on longer (the run may be ending).
RETRY_AFTER_CAP = 300.0


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        _log.warning("%s=%r is not a number of seconds; using %s", name, raw, default)
        return default
    return max(0.0, value)


@dataclass
class UploadOptions:
    """Tuning of an uploader; every field defaults from an environment variable.

    * ``finish_timeout`` (``RUNLOG_UPLOAD_TIMEOUT``, 30 s): how long ``run.complete()``
      (and interpreter exit) waits for the upload before leaving the rest to ``runlog sync``.
    * ``retry_initial`` / ``retry_max`` (``RUNLOG_UPLOAD_RETRY_INITIAL`` 1 s,
      ``RUNLOG_UPLOAD_RETRY_MAX`` 60 s): the exponential backoff between attempts.
    * ``request_timeout`` (``RUNLOG_UPLOAD_REQUEST_TIMEOUT``, 120 s): one HTTP attempt.
    * ``interval`` (``RUNLOG_UPLOAD_INTERVAL``, 1 s): how often the uploader looks for new data.
    * ``log_interval`` (``RUNLOG_UPLOAD_LOG_INTERVAL``, 5 s): how often a growing log file is
      re-uploaded while the run is running (it is always uploaded whole at the end).
    * ``read_chunk``: bytes of an events file read per step (bounds memory).
    """

    finish_timeout: float = field(default_factory=lambda: _env_float("RUNLOG_UPLOAD_TIMEOUT", 30.0))
    retry_initial: float = field(default_factory=lambda: _env_float("RUNLOG_UPLOAD_RETRY_INITIAL", 1.0))
    retry_max: float = field(default_factory=lambda: _env_float("RUNLOG_UPLOAD_RETRY_MAX", 60.0))
    request_timeout: float = field(default_factory=lambda: _env_float("RUNLOG_UPLOAD_REQUEST_TIMEOUT", 120.0))
    interval: float = field(default_factory=lambda: _env_float("RUNLOG_UPLOAD_INTERVAL", 1.0))
    log_interval: float = field(default_factory=lambda: _env_float("RUNLOG_UPLOAD_LOG_INTERVAL", 5.0))
    read_chunk: int = 1 << 20


class UploadAborted(UploadError):
    """The uploader was told to stop (its time is up); what is left stays for ``runlog sync``."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # asctime's format has no zone; HTTP dates are always GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_for_response(
    status: int, headers: Mapping[str, str], body: str, *, what: str, where: str
) -> UploadError:
    """The exception for a non-2xx answer: retryable (Unavailable) or not (Rejected), with the fix."""
    code: str | None = None
    message = body.strip()[:500]
    try:
        data: Any = json.loads(body)
        if isinstance(data, dict):
            code = data.get("error_code") or None
            message = str(data.get("message") or message)[:500]
    except ValueError:
        pass
    detail = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status in RETRYABLE_STATUS:
        return UploadUnavailable(
            detail, status=status, code=code, retry_after=parse_retry_after(headers.get("retry-after"))
        )
    if status == 401:
        hint = "check the credentials (set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)"
    elif status == 403 and "host" in message.lower():
        hint = f"the server refuses the Host header: start it with --allowed-hosts naming the host of {where}"
    elif status == 403:
        hint = "the credentials lack permission: check MLFLOW_TRACKING_TOKEN / MLFLOW_TRACKING_USERNAME and the server's permissions"
    elif status == 404:
        hint = f"check that {where} is an MLflow tracking server and that the remote run or experiment was not deleted"
    elif status == 413:
        hint = "the request is too large for the server or a proxy in front of it; raise its body size limit"
    else:
        hint = "the server refused this data as invalid; it is kept in the dead-letter file next to the upload cursor"
    return UploadRejected(detail, status=status, code=code, hint=hint)


class RetryAfterOrBackoff(tenacity.wait.wait_base):
    """Wait what ``Retry-After`` asked for, else exponential backoff with jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._backoff = tenacity.wait_exponential(multiplier=initial, max=maximum) + tenacity.wait_random(0, initial)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, UploadUnavailable) and exc.retry_after is not None:
            return min(exc.retry_after, RETRY_AFTER_CAP)
        return float(self._backoff(retry_state))


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, UploadUnavailable)


def call_with_retry(
    fn: Callable[[], T],
    what: str,
    options: UploadOptions,
    *,
    abort: threading.Event | None = None,
    max_attempts: int | None = None,
    sleep: Callable[[float], None] | None = None,
    on_result: Callable[[BaseException | None], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying :class:`UploadUnavailable` with backoff.

    Stops when ``abort`` is set (raising :class:`UploadAborted`) or after
    ``max_attempts``; :class:`UploadRejected` and any other error propagate at once.
    Every attempt and every wait is a DEBUG line on ``runlog.upload``. ``on_result`` hears
    the outcome of every attempt: the error it failed with, or None when it succeeded (so an
    uploader can say why nothing went through when its time is up).
    """
    stop_event = abort or threading.Event()

    def attempt() -> T:
        if stop_event.is_set():
            raise UploadAborted(f"{what}: stopped before it was sent")
        if on_result is None:
            return fn()
        try:
            result = fn()
        except UploadAborted:
            raise
        except Exception as exc:
            on_result(exc)
            raise
        on_result(None)
        return result

    def before(state: tenacity.RetryCallState) -> None:
        _log.debug("%s: attempt %d", what, state.attempt_number)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        _log.debug("%s: attempt %d failed (%s); retrying in %.2f s", what, state.attempt_number, exc, wait)

    def do_sleep(seconds: float) -> None:
        if sleep is not None:
            sleep(seconds)
        else:
            stop_event.wait(seconds)

    stop: tenacity.stop.stop_base = tenacity.stop_any(
        tenacity.stop_when_event_set(stop_event),
        *([tenacity.stop_after_attempt(max_attempts)] if max_attempts else []),
    )
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_retryable),
        wait=RetryAfterOrBackoff(options.retry_initial, options.retry_max),
        stop=stop,
        before=before,
        before_sleep=before_sleep,
        sleep=do_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except UploadUnavailable as exc:
        if stop_event.is_set():
            raise UploadAborted(f"{what}: stopped while retrying ({exc})") from exc
        raise
