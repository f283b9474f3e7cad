"""The uploader: ships one run to one target, in a background thread or in the foreground.

Target-agnostic. A :class:`~runlog._upload._target.Target` (MLflow, OTLP) turns batches of
events into requests. :class:`Uploader` runs passes over the store: it finds or creates the
remote run, lets the planner (``_planning``) read what is new from the cursor and cut it into
batches, the delivery (``_delivery``) send them with the one retry policy (``_retry``) and set
refused data aside, and the state (``_state``) keep the cursor; then it sends the run's final
status. It owns the thread, the bounded last pass of ``run.complete()`` and ``runlog sync``'s
foreground pass. See ``docs/upload-core.md``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .._errors import UploadRejected
from .._store import RunReader
from ._cursor import UploadCursor
from ._delivery import Delivery, refuses_the_sender
from ._failure import UploadFailure, busy, classify
from ._planning import Planner
from ._retry import UploadAborted, UploadOptions
from ._state import Pending, UploadState, UploadStats
from ._target import RunInfo, Target

__all__ = ["Uploader"]

_log = logging.getLogger("runlog.upload")

_TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
# While the run is live, the uploader sleeps this many times the CPU time a batch cost it,
# so that a training loop logging flat out keeps >= ~85% of the GIL (it catches up later).
_LIVE_CPU_SHARE_FACTOR = 6.0


class Uploader:
    """Ships one run to one target, from the cursor on; in a thread (:meth:`start`) or in the foreground (:meth:`sync`)."""

    def __init__(self, run_dir: Path, target: Target, options: UploadOptions | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.target = target
        self.options = options or UploadOptions()
        self.reader = RunReader(self.run_dir)
        self.state = UploadState(self.run_dir, self.reader, target.name, target.endpoint)
        self._abort = threading.Event()
        self.delivery = Delivery(self.run_id, target, self.options, self.state, self._abort)
        self.planner = Planner(self.run_dir, self.reader, target, self.options, self.state, self.delivery, self._throttle)
        self._warned_error: str | None = None
        self.done = False
        self._wake = threading.Event()
        self._final = threading.Event()
        self._opened = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu_mark = 0.0
        if self.cursor.remote.get("run_id"):
            self._opened.set()
        if hasattr(target, "retry"):
            # A target that makes several requests per call retries each one, so that a
            # server failing every n-th request cannot starve a call made of n requests.
            target.retry = self.delivery.retry_request
        if hasattr(target, "checkpoint"):
            # A target whose call makes several acknowledged requests (a long log) saves its
            # position after each: a crash re-sends at most one request.
            target.checkpoint = self.state.save
        if hasattr(target, "set_aside"):
            # A target that skips a part of a call (a log line the endpoint refuses) records it
            # in the dead-letter file at once, whatever happens to the rest of the call.
            target.set_aside = self.delivery.dead_letter

    @property
    def cursor(self) -> UploadCursor:
        return self.state.cursor

    @property
    def stats(self) -> UploadStats:
        return self.state.stats

    @property
    def last_failure(self) -> UploadFailure | None:
        """Why the last request did not go through (None once one succeeded); see ``_failure``."""
        return self.state.last_failure

    @last_failure.setter
    def last_failure(self, failure: UploadFailure | None) -> None:
        self.state.last_failure = failure

    @property
    def last_error(self) -> str | None:
        """:attr:`last_failure` in words (why, then what to do), or None."""
        return None if self.last_failure is None else str(self.last_failure)

    def pending(self) -> Pending:
        """What is in the store and not acknowledged by the target (for warnings and progress)."""
        return self.state.pending()

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def remote_run_id(self) -> str | None:
        value = self.cursor.remote.get("run_id")
        return str(value) if value else None

    def wait_opened(self, timeout: float) -> str | None:
        """The remote run id, waiting up to ``timeout`` seconds for the remote run to be found or created."""
        self._opened.wait(timeout)
        return self.remote_run_id

    # -- the lock: one uploader per run and target, across processes --------------------

    def _try_lock(self) -> bool:
        return self.state.lock.acquire()

    def _unlock(self) -> None:
        self.state.lock.release()

    def _forget_after_fork(self) -> None:
        # In a forked child: the thread does not exist there and the lock belongs to the parent.
        self.state.lock.forget()
        self._thread = None
        self._abort.set()

    # -- background mode ------------------------------------------------------------------

    def start(self) -> Uploader:
        self._thread = threading.Thread(target=self._loop, name=f"runlog-upload-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        try:
            while not self._abort.is_set():
                final = self._final.is_set()
                if not self.run_dir.is_dir():
                    _log.debug("run folder %s is gone; the uploader stops", self.run_dir)
                    return
                if self._try_lock():
                    try:
                        self.step(final=final)
                        self.last_failure, self._warned_error = None, None
                        if final:
                            self.done = True
                            return
                    except UploadAborted:
                        return
                    except UploadRejected as exc:
                        if self.delivery.last_exception is not exc or self.last_failure is None:  # (else recorded with its request)
                            self.last_failure = classify(exc, endpoint=self.target.endpoint)
                        _log.warning(
                            "run %s: %s. Nothing more is sent from this process: fix it, then run `runlog sync %s`. "
                            "Set the level of the 'runlog' logger to DEBUG for details",
                            self.run_id, self.last_failure, self.run_id,
                        )  # fmt: skip
                        return
                    except Exception as exc:  # an uploader never kills the program
                        if self.delivery.last_exception is not exc or self.last_failure is None:
                            self.last_failure = classify(exc, endpoint=self.target.endpoint, what="an upload pass")
                        # Tried again every pass: the same failure is one WARNING, not one a second.
                        message = self.last_failure.reason
                        repeated, self._warned_error = self._warned_error == message, message
                        _log.log(
                            logging.DEBUG if repeated else logging.WARNING,
                            "run %s: the upload to %s failed: %s; it will be tried again. Set the "
                            "level of the 'runlog' logger to DEBUG for details",
                            self.run_id, self.target.endpoint, self.last_failure,
                        )  # fmt: skip
                        _log.debug("upload failure", exc_info=True)
                        if final:
                            return
                else:
                    _log.debug("run %s: another process holds the upload lock; waiting", self.run_id)
                    if final:
                        self.last_failure = busy(self.target.endpoint)
                        return
                self._wake.wait(self.options.interval)
                self._wake.clear()
        finally:
            self._unlock()
            try:
                self.target.close()
            except Exception:
                _log.debug("closing the upload target failed", exc_info=True)

    def finish(self, timeout: float | None = None) -> bool:
        """Do a last full pass and wait up to ``timeout`` seconds; True when everything was sent."""
        timeout = self.options.finish_timeout if timeout is None else timeout
        self._final.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                self.stop()
                thread.join(min(1.0, self.options.request_timeout))
        return self.done

    def stop(self) -> None:
        """Stop at the next chance; what is not sent stays for ``runlog sync``."""
        self._abort.set()
        self._wake.set()

    # -- foreground mode --------------------------------------------------------------------

    def sync(self, progress: Callable[[int], None] | None = None, timeout: float | None = None) -> bool:
        """Upload everything now (``runlog sync``); False when another process holds the run's upload lock."""
        if not self._try_lock():
            return False
        timer = threading.Timer(timeout, self.stop) if timeout else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        self.planner.progress = progress
        try:
            self.step(final=True)
            self.done = True
            self.last_failure = None
        finally:
            self.planner.progress = None
            if timer is not None:
                timer.cancel()
            self._unlock()
        return True

    # -- one pass ---------------------------------------------------------------------------------

    def step(self, final: bool = False) -> None:
        """One pass: the remote run, new metric events, meta events, changed files, then the status."""
        self._open()
        self.planner.send_metric_files()
        self.planner.send_meta_files()
        self.planner.send_files(final)
        try:
            self.delivery.retry(lambda: self.target.flush(final), "derived data")
        except UploadRejected as exc:
            if refuses_the_sender(exc):
                raise
            self.delivery.dead_letter("derived", ["derived data (tables)"], exc)
        self.state.save()
        state = self.reader.state()
        if state.status in _TERMINAL and self.cursor.finished != state.status and not self.pending():
            try:
                self.delivery.retry(lambda: self.target.finish(state.status, state.end_time), f"status {state.status}")
            except UploadRejected as exc:
                if refuses_the_sender(exc):
                    raise
                self.delivery.dead_letter("status", [f"status {state.status}"], exc)
            self.cursor.finished = state.status
            self.state.save()

    def _open(self) -> None:
        before = json.dumps(self.cursor.remote, sort_keys=True, default=str)
        self.delivery.retry(lambda: self.target.open(self._run_info(), self.cursor.remote), "find or create the remote run")
        if json.dumps(self.cursor.remote, sort_keys=True, default=str) != before:
            self.cursor.endpoint = self.target.endpoint
            self.state.save()
            _log.debug("run %s: remote run %s at %s", self.run_id, self.remote_run_id, self.target.endpoint)
        self._opened.set()

    def _run_info(self) -> RunInfo:
        record = self.reader.record()
        state = self.reader.state()
        return RunInfo(
            run_id=self.run_id,
            experiment=str(record.get("experiment") or self.run_dir.parent.parent.name),
            run_dir=self.run_dir,
            record=record,
            display_name=state.display_name,
            start_time=float(state.start_time or record.get("created") or time.time()),
            parent_id=record.get("parent_id"),
        )

    def _throttle(self) -> None:
        """In the background while the run is live: give the training loop the GIL back."""
        cpu = time.thread_time()
        used, self._cpu_mark = cpu - self._cpu_mark, cpu
        if self._thread is not None and threading.current_thread() is self._thread and not self._final.is_set():
            self._final.wait(min(1.0, used * _LIVE_CPU_SHARE_FACTOR))
            self._cpu_mark = time.thread_time()
