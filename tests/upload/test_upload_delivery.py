"""runlog._upload._delivery: requests sent with the retry policy, rejected batches split and set aside."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence

import pytest
from upload_helpers import MemoryTarget, uploader

import runlog
from runlog._errors import UploadRejected, UploadUnavailable
from runlog._upload import MetricEvent
from runlog._upload._cursor import UploadCursor
from runlog._upload._delivery import Delivery, refuses_the_sender
from runlog._upload._failure import UploadFailure
from runlog._upload._retry import UploadOptions
from runlog._upload._state import UploadState


def test_a_rejected_event_is_set_aside_and_the_rest_flows(run: runlog.Run, caplog: pytest.LogCaptureFixture) -> None:
    """Bisection isolates the rejected event; it lands in the dead-letter file; a WARNING names cause and fix."""
    for i in range(20):
        run.log("ok", i)
        if i == 13:
            run.log("bad", i)
    target = MemoryTarget()
    target.reject_names = {"bad"}
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    up = uploader(run, target)
    up.sync()
    assert [p[1] for p in target.points()] == list(range(20))
    assert up.stats.dead_letters == 1 and UploadCursor.load(run.path, "memory-test").dead_letters == 1
    lines = (run.path / "upload" / "memory-test.dead.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["items"][0]["name"] == "bad"
    assert any("rename it" in r.getMessage() and "'bad'" in r.getMessage() for r in caplog.records)


def test_the_last_failure_names_its_request_and_a_success_clears_it(run: runlog.Run) -> None:
    """Each failed attempt is recorded with the request it belonged to (a target bug too); the next success clears it."""
    run.log("a", 1)
    target = MemoryTarget()
    target.fail_metrics = [UploadUnavailable("w: HTTP 503: busy", status=503)]
    up = uploader(run, target)
    seen: list[UploadFailure | None] = []
    original = target.send_metrics

    def send(events: Sequence[MetricEvent]) -> None:
        seen.append(up.last_failure)
        original(events)

    target.send_metrics = send  # type: ignore[method-assign]
    up.sync()
    first, second = seen
    assert first is None and second is not None  # the retry saw the 503 recorded
    assert (second.kind, second.status, second.endpoint) == ("server", 503, "memory://test")
    assert second.what.startswith("send 1 metric event(s)")
    assert up.last_failure is None and up.last_error is None  # the retry succeeded
    run.log("a", 2)
    target.fail_metrics = [RuntimeError("boom")]
    target.send_metrics = original  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        up.sync()
    assert up.last_failure is not None and up.last_failure.kind == "unexpected"
    assert up.last_failure.what.startswith("send 1 metric event(s)") and "RuntimeError: boom" in str(up.last_failure)


def _delivery(run: runlog.Run, target: MemoryTarget) -> Delivery:
    options = UploadOptions(retry_initial=0.001, retry_max=0.001)
    state = UploadState(run.path, run._reader, target.name, target.endpoint)
    return Delivery(run.id, target, options, state, threading.Event())


def test_a_refused_batch_is_split_until_each_refused_item_is_alone(run: runlog.Run) -> None:
    """Of eight items two are refused: the others are sent, the two are set aside (one dead-letter line each)."""
    target = MemoryTarget()
    delivery = _delivery(run, target)
    sent: list[list[int]] = []

    def send(items: list[int]) -> None:
        if 3 in items or 6 in items:
            raise UploadRejected("bad value", status=400, hint="fix it")
        sent.append(items)

    delivery.deliver(send, list(range(8)), "meta-test", "8 items")
    assert sorted(i for batch in sent for i in batch) == [0, 1, 2, 4, 5, 7]
    dead = [json.loads(line) for line in (run.path / "upload" / "memory-test.dead.jsonl").read_text().splitlines()]
    assert [d["items"] for d in dead] == [[3], [6]] and {d["status"] for d in dead} == {400}
    assert delivery.state.stats.dead_letters == 2 and delivery.state.cursor.dead_letters == 2


@pytest.mark.parametrize("status", [401, 403, 404, 302, 415])
def test_a_refusal_of_the_sender_stops_without_setting_anything_aside(run: runlog.Run, status: int) -> None:
    target = MemoryTarget()
    delivery = _delivery(run, target)

    def send(items: list[int]) -> None:
        raise UploadRejected("no", status=status)

    with pytest.raises(UploadRejected):
        delivery.deliver(send, [1, 2, 3], "metrics", "3 items")
    assert not (run.path / "upload" / "memory-test.dead.jsonl").exists()
    assert refuses_the_sender(UploadRejected("no", status=status))


def test_a_refused_file_is_set_aside_whatever_the_status(run: runlog.Run) -> None:
    """A file refused with a 403 is set aside by deliver (the planner decides whether to send it again)."""
    delivery = _delivery(run, MemoryTarget())

    def send(items: list[str]) -> None:
        raise UploadRejected("forbidden", status=403)

    delivery.deliver(send, ["outputs/a"], "file", "file outputs/a")
    (dead,) = (run.path / "upload" / "memory-test.dead.jsonl").read_text().splitlines()
    assert json.loads(dead)["items"] == ["outputs/a"] and json.loads(dead)["kind"] == "file"


def test_content_refusals_and_unknown_statuses_do_not_refuse_the_sender() -> None:
    for status in (400, 413, 422, 500, None):
        assert not refuses_the_sender(UploadRejected("x", status=status))


def test_retry_counts_successes_and_the_outcome_keeps_the_last_failure(run: runlog.Run) -> None:
    delivery = _delivery(run, MemoryTarget())
    answers = iter([UploadUnavailable("down", status=503), None])
    failures: list[UploadFailure | None] = []

    def call() -> str:
        failures.append(delivery.state.last_failure)
        error = next(answers)
        if error is not None:
            raise error
        return "ok"

    assert delivery.retry(call, "send x") == "ok"
    assert failures[0] is None and failures[1] is not None and failures[1].status == 503
    assert delivery.state.last_failure is None and delivery.last_exception is None
    assert delivery.state.stats.requests_ok == 1
    assert delivery.retry_request(lambda: 1, "y") == 1 and delivery.state.stats.requests_ok == 1  # not counted
