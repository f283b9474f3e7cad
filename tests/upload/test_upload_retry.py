"""runlog._upload._retry: the one retry policy of every uploader (what is retried, how long it waits)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from runlog._errors import UploadRejected, UploadUnavailable
from runlog._upload._retry import (
    RETRY_AFTER_CAP,
    RetryAfterOrBackoff,
    UploadAborted,
    UploadOptions,
    call_with_retry,
    error_for_response,
    parse_retry_after,
)


def test_call_with_retry_gives_up_when_aborted_or_after_max_attempts() -> None:
    """The abort event stops retrying (UploadAborted); max_attempts re-raises the last error."""
    options = UploadOptions(retry_initial=0.001, retry_max=0.001)
    calls = []

    def always_down() -> None:
        calls.append(1)
        raise UploadUnavailable("down")

    with pytest.raises(UploadUnavailable):
        call_with_retry(always_down, "x", options, max_attempts=3)
    assert len(calls) == 3
    abort = threading.Event()
    threading.Timer(0.05, abort.set).start()
    from runlog._upload._retry import UploadAborted

    with pytest.raises(UploadAborted):
        call_with_retry(always_down, "x", options, abort=abort)


def test_retry_after_parsing_and_wait() -> None:
    """Retry-After as seconds or an HTTP date; the wait uses it, else backs off exponentially."""
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 10) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None
    wait = RetryAfterOrBackoff(initial=0.5, maximum=4.0)

    class State:
        attempt_number = 3

        class outcome:
            @staticmethod
            def exception() -> BaseException:
                return UploadUnavailable("x", status=429, retry_after=2.0)

    assert wait(State()) == 2.0  # type: ignore[arg-type]
    State.outcome.exception = staticmethod(lambda: UploadUnavailable("x", status=503))  # type: ignore[method-assign]
    assert 0.5 <= wait(State()) <= 4.0  # type: ignore[arg-type]


def test_which_statuses_are_retryable_is_decided_in_one_place() -> None:
    """error_for_response maps 408/429/5xx to UploadUnavailable, other 4xx to UploadRejected with a fix."""
    for status in (408, 429, 500, 502, 503, 504):
        assert isinstance(error_for_response(status, {}, "", what="w", where="u"), UploadUnavailable)
    for status, fix in ((400, "dead-letter"), (401, "MLFLOW_TRACKING_TOKEN"), (404, "deleted"), (413, "limit")):
        exc = error_for_response(status, {}, '{"error_code": "X", "message": "m"}', what="w", where="u")
        assert isinstance(exc, UploadRejected) and fix in exc.hint and exc.code == "X"
    host = error_for_response(403, {}, "Invalid Host header - possible DNS rebinding", what="w", where="u")
    assert isinstance(host, UploadRejected) and "--allowed-hosts" in host.hint


def test_retry_after_dates_without_a_zone_are_gmt(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP dates are GMT in all three formats; asctime's has no zone and must not be read as local time."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        now = 784111777.0 - 10  # 10 s before Sun, 06 Nov 1994 08:49:37 GMT
        for value in ("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"):
            assert parse_retry_after(value, now=now) == pytest.approx(10.0), value
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_options_default_from_the_environment_and_a_bad_value_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each field reads its RUNLOG_UPLOAD_* variable; a negative value is 0, a word the default (with a WARNING)."""
    monkeypatch.setenv("RUNLOG_UPLOAD_TIMEOUT", "7.5")
    monkeypatch.setenv("RUNLOG_UPLOAD_RETRY_MAX", "-3")
    monkeypatch.setenv("RUNLOG_UPLOAD_INTERVAL", "  ")
    monkeypatch.setenv("RUNLOG_UPLOAD_REQUEST_TIMEOUT", "soon")
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    options = UploadOptions()
    assert (options.finish_timeout, options.retry_max, options.interval, options.request_timeout) == (
        7.5,
        0.0,
        1.0,
        120.0,
    )
    assert [r.getMessage() for r in caplog.records] == [
        "RUNLOG_UPLOAD_REQUEST_TIMEOUT='soon' is not a number of seconds; using 120.0"
    ]
    assert UploadOptions(finish_timeout=1.0).finish_timeout == 1.0  # an explicit value wins


def test_a_rejection_is_never_retried_and_every_attempt_is_heard() -> None:
    """UploadRejected (and any other error) propagates at the first attempt; on_result hears each failure, then the success."""
    options = UploadOptions(retry_initial=0.001, retry_max=0.001)
    heard: list[BaseException | None] = []
    calls = 0

    def refused() -> None:
        nonlocal calls
        calls += 1
        raise UploadRejected("bad", status=400)

    with pytest.raises(UploadRejected):
        call_with_retry(refused, "x", options, on_result=heard.append)
    assert calls == 1 and len(heard) == 1 and isinstance(heard[0], UploadRejected)
    answers = iter([UploadUnavailable("down"), UploadUnavailable("down"), None])

    def flaky() -> str:
        error = next(answers)
        if error is not None:
            raise error
        return "sent"

    heard.clear()
    slept: list[float] = []
    assert call_with_retry(flaky, "x", options, on_result=heard.append, sleep=slept.append) == "sent"
    assert [type(h).__name__ for h in heard] == ["UploadUnavailable", "UploadUnavailable", "NoneType"]
    assert len(slept) == 2


def test_an_abort_set_before_the_call_sends_nothing() -> None:
    abort = threading.Event()
    abort.set()
    calls: list[int] = []
    with pytest.raises(UploadAborted, match="stopped before it was sent"):
        call_with_retry(lambda: calls.append(1), "send", UploadOptions(), abort=abort)
    assert calls == []


def test_a_retry_after_is_waited_but_never_longer_than_the_cap() -> None:
    """The wait follows Retry-After, capped at RETRY_AFTER_CAP (the run may be ending)."""
    slept: list[float] = []
    answers = iter([UploadUnavailable("busy", status=429, retry_after=10 * RETRY_AFTER_CAP), None])

    def busy() -> int:
        error = next(answers)
        if error is not None:
            raise error
        return 1

    assert call_with_retry(busy, "x", UploadOptions(retry_initial=0.001, retry_max=0.001), sleep=slept.append) == 1
    assert slept == [RETRY_AFTER_CAP]


def test_an_error_answer_names_the_request_code_and_message() -> None:
    """The detail holds what was asked, the status, the server's error code and message (cut to 500 characters)."""
    exc = error_for_response(
        503, {"retry-after": "4"}, '{"error_code": "BUSY", "message": "try later"}', what="log batch", where="u"
    )
    assert isinstance(exc, UploadUnavailable)
    assert str(exc).startswith("log batch: HTTP 503 BUSY: try later") and exc.retry_after == 4.0
    plain = error_for_response(422, {}, "x" * 2000, what="w", where="u")
    assert isinstance(plain, UploadRejected) and plain.code is None
    assert str(plain).count("x") == 500
    forbidden = error_for_response(403, {}, "no", what="w", where="u")
    assert isinstance(forbidden, UploadRejected) and "permission" in forbidden.hint


def test_retry_after_is_never_negative() -> None:
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=time.time()) == 0.0  # a date in the past
    assert parse_retry_after("") is None and parse_retry_after(None) is None
