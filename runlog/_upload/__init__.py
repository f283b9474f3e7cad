"""Uploaders: ship runs from the local store to remote targets (an MLflow tracking server).

The store is written first and uploads read from it: ``run.log`` never waits for
the network. One background thread per run tails the store from a persisted cursor
(``_core``: planning, delivery and state in ``_planning``, ``_delivery``, ``_state``),
retries with one policy (``_retry``), and on ``run.complete()`` gets a
bounded time to finish; ``runlog sync`` sends whatever is left, at any later time.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._model import context as _context
from .._model.metrics import MetricPoint
from ._core import Uploader
from ._cursor import UploadCursor, read_remote_id
from ._retry import UploadOptions, call_with_retry
from ._state import Pending
from ._target import MetaEvent, MetricEvent, RunInfo, Target
from .mlflow import MlflowTarget, target_name

if TYPE_CHECKING:
    from .._model.run import Run

__all__ = [
    "MetaEvent",
    "MetricEvent",
    "Pending",
    "RunInfo",
    "Target",
    "UploadCursor",
    "UploadOptions",
    "Uploader",
    "attach",
    "finish",
    "make_target",
    "remote_metrics",
    "remote_run_id",
]

_log = logging.getLogger("runlog.upload")

_live: dict[Path, Uploader] = {}
_live_lock = threading.Lock()
# Set when the interpreter exits: every upload still waited for then shares one
# RUNLOG_UPLOAD_TIMEOUT, so N open runs with the server down do not hold the exit N times.
_exit_deadline: float | None = None


def make_target(tracking_uri: str, options: UploadOptions | None = None) -> Target:
    """The target for a tracking URI: an MLflow server, or OTLP for ``otlp:`` / ``otlp+http(s)://host:4318``."""
    if tracking_uri.startswith("otlp"):
        from .otlp import target_for_uri  # deferred: the OTLP encoders cost ~60 ms to import

        return target_for_uri(tracking_uri, options)

    return MlflowTarget(tracking_uri, options=options)


def attach(run: Run) -> Uploader | None:
    """Start the background uploader of a run started on a workspace with a tracking URI.

    Never raises: a problem is a WARNING, and the run goes on logging locally.
    """
    uri = run.experiment.workspace.tracking_uri
    if not uri:
        return None
    try:
        options = UploadOptions()
        uploader = Uploader(run.path, make_target(uri, options), options).start()
    except Exception as exc:
        _log.warning(
            "run %s will not be uploaded while it runs (%s); it is logged locally: send it later with "
            "`runlog sync %s`",
            run.id, exc, run.id,
        )  # fmt: skip
        return None
    with _live_lock:
        _live[run.path] = uploader
    _log.debug("run %s: uploading to %s", run.id, uploader.target.endpoint)
    return uploader


def finish(run: Run, timeout: float | None = None) -> bool:
    """Give the run's uploader a bounded time to send everything; warn about what is left."""
    with _live_lock:
        uploader = _live.pop(run.path, None)
    if uploader is None:
        return True
    return _finish(uploader, timeout)


def _finish(uploader: Uploader, timeout: float | None) -> bool:
    timeout = uploader.options.finish_timeout if timeout is None else timeout
    started = time.monotonic()
    if _exit_deadline is not None:
        timeout = min(timeout, max(0.0, _exit_deadline - started))
    if uploader.finish(timeout):
        _log.debug("run %s: upload complete in %.2f s", uploader.run_id, time.monotonic() - started)
        return True
    left = uploader.pending()
    what = []
    if left.metric_events:
        what.append(f"{left.metric_events} metric event(s)")
    if left.meta_bytes:
        what.append("tags/properties")
    if left.files:
        what.append(f"{len(left.files)} file(s)")
    failure = uploader.last_failure
    if failure is not None:
        why = f"Why: {failure}."
    else:
        why = "No request had failed: the server was slow, or there was more to send than the time allowed."
    _log.warning(
        "run %s: the upload to %s did not finish within %.0f s (%s not sent). %s Everything is kept in the local "
        "store: send the rest with `runlog sync %s` (RUNLOG_UPLOAD_TIMEOUT sets how long a run waits)",
        uploader.run_id, uploader.target.endpoint, timeout, ", ".join(what) or "the final status", why,
        uploader.run_id,
    )  # fmt: skip
    return False


def live_uploader(run: Run) -> Uploader | None:
    with _live_lock:
        return _live.get(run.path)


def remote_run_id(run: Run, wait: float = 10.0) -> str | None:
    """The id of the run's remote MLflow run (waiting up to ``wait`` s while a live uploader creates it)."""
    uploader = live_uploader(run)
    if uploader is not None:
        return uploader.wait_opened(wait)
    uri = run.experiment.workspace.tracking_uri
    if uri:
        return read_remote_id(run.path, target_name(uri))
    return read_remote_id(run.path)


def remote_metrics(run: Run, name: str | None = None) -> dict[str, list[MetricPoint]]:
    """The metric histories of the run's remote MLflow run (including points other clients logged there)."""
    uri = run.experiment.workspace.tracking_uri
    if not uri:
        raise ValueError(
            f"run {run.id} is not bound to a tracking server: open the workspace with "
            f"Workspace(tracking_uri='http://...') or set RUNLOG_TRACKING_URI"
        )
    remote_id = remote_run_id(run)
    if not remote_id:
        raise LookupError(
            f"run {run.id} has no remote run on {uri} yet: it is created by the uploader; run `runlog sync {run.id}`"
        )
    options = UploadOptions()
    target = MlflowTarget(uri, options=options)
    try:
        keys = [name] if name is not None else call_with_retry(lambda: target.metric_keys(remote_id), "read run", options, max_attempts=5)
        result: dict[str, list[MetricPoint]] = {}
        for key in keys:
            points = call_with_retry(lambda k=key: list(target.metric_history(remote_id, k)), f"read {key!r}", options, max_attempts=5)  # type: ignore[misc]
            if points:
                result[key] = [
                    MetricPoint(_float(p.get("value")), int(p.get("step", 0)), int(p.get("timestamp", 0)) / 1000.0)
                    for p in points
                ]
        return result
    finally:
        target.close()


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


@atexit.register
def _at_exit() -> None:
    # Runs started in this process are ended (and wait for their uploads) by the run
    # machinery's own exit hook; uploaders of runs nobody ends (a child run left open)
    # get their bounded final pass here.
    # This hook runs before the run machinery's (registered earlier), so the budget set here
    # also bounds the waits of the runs it completes afterwards.
    global _exit_deadline

    pid = os.getpid()
    with _live_lock:
        pending = list(_live.items())
    if not pending:
        return
    _exit_deadline = time.monotonic() + max(u.options.finish_timeout for _, u in pending)
    orphans = []
    for path, uploader in pending:
        if any(r.path == path and r._owner_pid == pid and not r._finished for r in _context._process_runs):
            continue
        with _live_lock:
            _live.pop(path, None)
        orphans.append(uploader)
        uploader._final.set()  # their last passes run side by side
        uploader.wake()
    for uploader in orphans:
        try:
            _finish(uploader, None)
        except Exception:  # at exit there is nobody left to raise to
            _log.debug("upload at exit failed", exc_info=True)


def _after_fork_in_child() -> None:
    global _live_lock
    _live_lock = threading.Lock()
    for uploader in _live.values():
        uploader._forget_after_fork()
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
