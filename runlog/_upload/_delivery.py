"""Delivering batches to a target: one retry policy per request, rejected batches split and set aside.

:class:`Delivery` sends what the planner (``_planning``) cut: every request goes through
``_retry.call_with_retry`` bound to the uploader's abort flag, and each attempt's outcome is kept
as the state's last failure (``_failure``). A batch refused for its content is split in halves
until the refused item is alone, which goes to the dead-letter file
``<run>/upload/<target>.dead.jsonl``; a refusal of where or by whom it was sent stops the pass.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .._errors import UploadRejected
from ._cursor import UPLOAD_DIR
from ._failure import classify
from ._retry import UploadOptions, call_with_retry
from ._state import UploadState
from ._target import CONTENT_REFUSALS, Target

__all__ = ["TEST_EXIT_ENV", "Delivery", "maybe_exit_for_test", "refuses_the_sender"]

_log = logging.getLogger("runlog.upload")

T = TypeVar("T")
_MAX_REJECT_WARNINGS = 5
TEST_EXIT_ENV = "RUNLOG_UPLOAD_TEST_EXIT_AFTER_BATCHES"


class Delivery:
    """Sends to ``target`` with the retry policy; records outcomes and set-aside items in ``state``."""

    def __init__(self, run_id: str, target: Target, options: UploadOptions, state: UploadState, abort: threading.Event) -> None:
        self.run_id = run_id
        self.target = target
        self.options = options
        self.state = state
        self.abort = abort
        # the error the state's last failure was made from (None after a success)
        self.last_exception: BaseException | None = None
        self._reject_warnings = 0

    def outcome(self, what: str) -> Callable[[BaseException | None], None]:
        """Records the outcome of one attempt of request ``what`` as the state's last failure."""

        def record(exc: BaseException | None) -> None:
            if exc is None:
                self.state.last_failure = self.last_exception = None
            elif exc is not self.last_exception:  # (an error a target's own request already recorded keeps its request)
                self.last_exception = exc
                self.state.last_failure = classify(exc, endpoint=self.target.endpoint, what=what)

        return record

    def retry_request(self, fn: Callable[[], T], what: str) -> T:
        """One request of a target's call, with the policy (the ``retry`` a target may declare)."""
        return call_with_retry(fn, f"run {self.run_id}: {what}", self.options, abort=self.abort, on_result=self.outcome(what))

    def retry(self, fn: Callable[[], T], what: str) -> T:
        """One call of the target, with the policy; counted when it succeeds."""
        result = call_with_retry(fn, f"run {self.run_id}: {what}", self.options, abort=self.abort, on_result=self.outcome(what))
        self.state.stats.requests_ok += 1
        return result

    def deliver(self, send: Callable[[Any], None], items: list[Any], kind: str, what: str) -> None:
        """Send ``items``; a rejected batch is split in halves until the culprit is alone, then set aside."""
        try:
            self.retry(lambda: send(items), f"send {what}")
        except UploadRejected as exc:
            if kind != "file" and refuses_the_sender(exc):
                raise  # every request would be refused alike: nothing is set aside, the cursor stays
            if len(items) > 1:
                mid = len(items) // 2
                self.deliver(send, items[:mid], kind, what + " (first half)")
                self.deliver(send, items[mid:], kind, what + " (second half)")
                return
            self.dead_letter(kind, items, exc)

    def dead_letter(self, kind: str, items: list[Any], exc: UploadRejected) -> None:
        """Set ``items`` aside in the dead-letter file, with a WARNING naming the cause and the fix."""
        path = self.state.run_dir / UPLOAD_DIR / f"{self.target.name}.dead.jsonl"
        entry = {
            "time": time.time(),
            "kind": kind,
            "error": str(exc),
            "status": exc.status,
            "code": exc.code,
            "items": [i._asdict() if hasattr(i, "_asdict") else i for i in items],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, default=str) + "\n")
        except OSError as write_error:
            _log.debug("cannot write the dead-letter file %s: %s", path, write_error)
        self.state.stats.dead_letters += len(items)
        self.state.cursor.dead_letters += len(items)
        self._reject_warnings += 1
        level = logging.WARNING if self._reject_warnings <= _MAX_REJECT_WARNINGS else logging.DEBUG
        _log.log(
            level,
            "run %s: %s refused %s (%s). Fix: %s. It is kept in %s; the rest of the run goes on uploading. "
            "Set the level of the 'runlog' logger to DEBUG for details",
            self.run_id, self.target.endpoint, _describe(kind, items), exc, exc.hint or "see the error", path,
        )  # fmt: skip


def refuses_the_sender(exc: UploadRejected) -> bool:
    """A refusal of where or by whom data is sent (401, 403, 404, a redirect, 415), not of the data itself.

    (A file refused so stays not done and is sent again by a later pass, see ``_planning``.)
    """
    return exc.status is not None and 300 <= exc.status < 500 and exc.status not in CONTENT_REFUSALS


def _describe(kind: str, items: list[Any]) -> str:
    if kind == "metrics" and items:
        first = items[0]
        return f"metric {first.name!r} (value {first.value!r}, step {first.seq})"
    if kind == "file" and items:
        return f"file {items[0]!r}"
    if kind == "meta" and items:
        first = items[0]
        return f"{first.kind} {first.key!r}"
    return kind


_batches_sent = 0


def maybe_exit_for_test() -> None:
    """Test hook: die right after the N-th acknowledged batch, before the cursor is saved."""
    global _batches_sent
    limit = os.environ.get(TEST_EXIT_ENV)
    if not limit:
        return
    _batches_sent += 1
    if _batches_sent >= int(limit):
        os._exit(75)
