"""runlog._upload: the uploaders' entry points (make_target, attach, finish, remote ids) and the exit budget."""

from __future__ import annotations

import pytest
from upload_helpers import MemoryTarget, uploader

import runlog
from runlog import _upload
from runlog._upload import MlflowTarget, attach, finish, make_target, remote_metrics, remote_run_id
from runlog._upload._cursor import UploadCursor


def test_uploads_waited_for_at_exit_share_one_timeout(run: runlog.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """At interpreter exit every upload still waited for shares one RUNLOG_UPLOAD_TIMEOUT (server down: no N x 30 s hang)."""
    from runlog import _upload

    clock = [1000.0]

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return clock[0]

    monkeypatch.setattr(_upload, "time", Clock)
    monkeypatch.setattr(_upload, "_exit_deadline", None, raising=False)
    given: list[float] = []

    def stuck(timeout: float | None = None) -> bool:  # a server that never answers: each wait uses all it gets
        given.append(float(timeout or 0.0))
        clock[0] += float(timeout or 0.0)
        return False

    uploaders = []
    for owner in (run.child_run(), run.child_run(), run):  # two children nobody completed, and the main run
        up = uploader(owner, MemoryTarget(), finish_timeout=5.0)
        monkeypatch.setattr(up, "finish", stuck)
        monkeypatch.setitem(_upload._live, owner.path, up)
        uploaders.append(up)
    _upload._at_exit()  # the children's last passes (the main run is left to the run machinery)
    assert all(u._final.is_set() for u in uploaders[:2]) and not uploaders[2]._final.is_set()
    assert _upload.finish(run) is False  # then the run machinery completes the main run
    assert len(given) == 3 and sum(given) <= 5.0


def test_make_target_picks_the_target_by_the_uri() -> None:
    """An http(s) URI is an MLflow server; `otlp:` and `otlp+http(s)://` are OTLP collectors."""
    from runlog._upload.otlp import OtlpTarget

    mlflow = make_target("http://mlflow.test:5000")
    otlp = make_target("otlp+http://collector:4318")
    try:
        assert isinstance(mlflow, MlflowTarget) and not isinstance(mlflow, OtlpTarget)
        assert isinstance(otlp, OtlpTarget) and otlp.config.metrics_url == "http://collector:4318/v1/metrics"
    finally:
        mlflow.close()
        otlp.close()


def test_a_run_without_a_tracking_uri_has_no_uploader(run: runlog.Run) -> None:
    assert attach(run) is None
    assert finish(run) is True  # nothing to wait for
    assert _upload.live_uploader(run) is None
    with pytest.raises(ValueError, match="not bound to a tracking server"):
        remote_metrics(run)


def test_an_uploader_that_cannot_start_is_a_warning_and_the_run_goes_on(
    ws: runlog.Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run = runlog.Experiment(ws, "e").start_logging(outputs=False)
    monkeypatch.setattr(ws, "tracking_uri", "http://mlflow.test", raising=False)

    def broken(uri: str, options: object = None) -> None:
        raise ValueError("no such scheme")

    monkeypatch.setattr(_upload, "make_target", broken)
    assert attach(run) is None
    assert any("no such scheme" in r.getMessage() and f"runlog sync {run.id}" in r.getMessage() for r in caplog.records)
    run.log("a", 1.0)  # logging goes on locally
    run.complete()


def test_remote_run_id_without_a_live_uploader_reads_the_cursor(run: runlog.Run) -> None:
    assert remote_run_id(run) is None
    UploadCursor("mlflow-abc", remote={"run_id": "remote-7"}).save(run.path)
    assert remote_run_id(run) == "remote-7"


def test_a_live_uploader_is_finished_once_and_says_what_is_left(
    run: runlog.Run, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """finish() waits for the run's live uploader, then forgets it; one that does not finish is a WARNING with the fix."""
    run.log("a", 1.0)
    target = MemoryTarget()
    target.block.clear()  # a server that never answers
    up = uploader(run, target, request_timeout=0.05).start()  # (bounds the wait for the stuck thread)
    monkeypatch.setitem(_upload._live, run.path, up)
    assert _upload.live_uploader(run) is up
    assert finish(run, timeout=0.05) is False
    assert _upload.live_uploader(run) is None and finish(run) is True
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "1 metric event(s)" in warning and f"runlog sync {run.id}" in warning
    target.block.set()
    up.finish(5.0)
