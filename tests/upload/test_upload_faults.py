"""The six faults of issue 4 against a real ``mlflow server`` behind a loopback fault proxy, and
what a user is told when an upload cannot go through (issue 17).

Each fault of issue 4 ends with MlflowClient().get_metric_history returning exactly the points
logged, in order, and the driver-log artifact equal to the local file. One server is shared by
every test of this file (restarted in place for the restart case). The failure reports need no
server: a proxy with nothing behind it answers 401 or 500, refuses connections, or never answers,
to the MLflow and the OTLP uploader alike.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fault_proxy import FaultProxy, MlflowServer, free_port
from click.testing import CliRunner

import runlog
from runlog._errors import UploadError
from runlog._store import writer_for
from runlog._upload import Uploader, UploadOptions, make_target
from runlog._upload._cursor import UploadCursor
from runlog._upload.mlflow import target_name
from runlog.cli import main

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real tracking server (sqlite, artifact serving) for the whole file."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def session_proxy(mlflow_server: MlflowServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(mlflow_server.port)
    yield proxy
    proxy.close()


@pytest.fixture()
def proxy(
    session_proxy: FaultProxy, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """The fault proxy, healthy at the start of each test; fast retries; runs upload through it."""
    session_proxy.reset()
    session_proxy.up()
    for name, value in (
        ("RUNLOG_UPLOAD_RETRY_INITIAL", "0.05"),
        ("RUNLOG_UPLOAD_RETRY_MAX", "0.5"),
        ("RUNLOG_UPLOAD_INTERVAL", "0.1"),
        ("RUNLOG_UPLOAD_LOG_INTERVAL", "0.5"),
        ("RUNLOG_UPLOAD_TIMEOUT", "90"),
        ("RUNLOG_UPLOAD_REQUEST_TIMEOUT", "30"),
    ):
        monkeypatch.setenv(name, value)
    yield session_proxy
    session_proxy.reset()
    session_proxy.up()


@pytest.fixture(scope="session")
def client(mlflow_server: MlflowServer) -> Any:
    """MLflow's own client, straight to the server (not through the proxy)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server.url)


def start_run(store: Path, proxy: FaultProxy, experiment: str = "faults") -> runlog.Run:
    ws = runlog.Workspace(store, tracking_uri=proxy.url)
    return runlog.Experiment(ws, experiment).start_logging(outputs=False)


def log_points(run: runlog.Run, start: int, count: int, pause_every: int = 0, pause: float = 0.0) -> None:
    writer = writer_for(run.path)
    for i in range(start, start + count):
        run.log("loss", 1.0 / (i + 1))
        if i % 50 == 0:
            run.log("acc", i / 10.0, step=i)
            writer.write_log(f"step {i}: loss {1.0 / (i + 1):.6f}\n")
        if pause_every and i % pause_every == 0:
            time.sleep(pause)


def assert_server_has_exactly_the_local_run(run: runlog.Run, client: Any, remote_id: str | None = None) -> None:
    """Every local point once, in order, with its step and ms timestamp; the driver log byte-identical."""
    remote_id = remote_id or run.mlflow_run_id
    assert remote_id
    for name in ("loss", "acc"):
        local = run.get_metric_history(name)
        assert local, name
        next_step = 0
        expected = []
        for point in local:
            step = point.step if point.step is not None else next_step
            next_step = step + 1
            expected.append((point.value, step, int(point.time * 1000)))
        remote = [(m.value, m.step, m.timestamp) for m in client.get_metric_history(remote_id, name)]
        assert remote == expected, f"{name}: {len(remote)} remote points vs {len(expected)} local"
    local_log = (run.path / "files" / "logs" / "driver_log.txt").read_bytes()
    downloaded = client.download_artifacts(remote_id, "logs/driver_log.txt", str(run.path.parent.parent / "dl"))
    assert Path(downloaded).read_bytes() == local_log
    runs = client.search_runs(
        [client.get_run(remote_id).info.experiment_id], filter_string=f"tags.`runlog.run_id` = '{run.id}'"
    )
    assert len(runs) == 1  # never a second remote run


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def uploaded_offset(run_dir: Path, uri: str) -> int:
    cursor = UploadCursor.load(run_dir, target_name(uri))
    return sum(c.offset for c in cursor.metrics.values())


def test_server_down_at_start_and_up_ten_seconds_later(store: Path, proxy: FaultProxy, client: Any) -> None:
    """Connections refused for the first 10 s: logging goes on locally, the upload catches up, nothing lost."""
    proxy.refuse()
    timer = threading.Timer(10.0, proxy.up)
    timer.start()
    try:
        run = start_run(store, proxy)
        log_points(run, 0, 600, pause_every=100, pause=0.3)
        run.complete()  # waits (bounded) for the upload once the server is back
    finally:
        timer.cancel()
        proxy.up()
    assert any(status == 200 for _, _, _, status in proxy.requests)
    assert_server_has_exactly_the_local_run(run, client)
    assert client.get_run(run.mlflow_run_id).info.status == "FINISHED"


def test_server_restarted_mid_run(store: Path, proxy: FaultProxy, client: Any, mlflow_server: MlflowServer) -> None:
    """The tracking server stops and starts again while the run logs; the upload resumes where it was."""
    run = start_run(store, proxy)
    log_points(run, 0, 400)
    wait_for(lambda: uploaded_offset(run.path, proxy.url) > 0, 30, "a first batch to arrive")
    mlflow_server.stop()
    log_points(run, 400, 400)
    mlflow_server.start()
    log_points(run, 800, 400)
    run.complete()
    assert_server_has_exactly_the_local_run(run, client)


def test_every_third_request_503_then_a_429_with_retry_after(store: Path, proxy: FaultProxy, client: Any) -> None:
    """503 on every third request and one 429 Retry-After: 2: all retried, the 429's wait honoured."""
    proxy.fail_every = 3
    proxy.retry_after_at = 7
    run = start_run(store, proxy)
    log_points(run, 0, 2000)
    run.tag("fault", "503-429")
    run.complete()
    statuses = [s for _, _, _, s in proxy.requests]
    assert statuses.count(503) >= 2 and 429 in statuses
    i = statuses.index(429)
    assert proxy.requests[i + 1][0] - proxy.requests[i][0] >= 1.9  # Retry-After: 2 was waited out
    assert_server_has_exactly_the_local_run(run, client)
    assert client.get_run(run.mlflow_run_id).data.tags["fault"] == "503-429"


def test_a_slow_server(store: Path, proxy: FaultProxy, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request takes 2 s: run.log stays local, complete() waits for the upload, nothing lost."""
    monkeypatch.setenv("RUNLOG_UPLOAD_LOG_INTERVAL", "60")  # the log once at the end: keep the request count low
    proxy.delay = 2.0
    run = start_run(store, proxy)
    log_points(run, 0, 300)
    run.complete()
    assert_server_has_exactly_the_local_run(run, client)


CHILD = textwrap.dedent(
    """
    import sys, time, runlog
    from runlog._store import writer_for
    ws = runlog.Workspace(sys.argv[1], tracking_uri=sys.argv[2])
    run = runlog.Experiment(ws, "faults").start_logging(outputs=False)
    print(run.id, flush=True)
    writer = writer_for(run.path)
    count, pause = int(sys.argv[3]), float(sys.argv[4])
    for i in range(count):
        run.log("loss", 1.0 / (i + 1))
        if i % 50 == 0:
            run.log("acc", i / 10.0, step=i)
            writer.write_log(f"step {i}: loss {1.0 / (i + 1):.6f}\\n")
            time.sleep(pause)
    run.complete()
    """
)


def run_child(
    store: Path, proxy: FaultProxy, count: int, pause: float, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store), proxy.url, str(count), str(pause)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_training_process_killed_with_sigkill_then_sync(store: Path, proxy: FaultProxy, client: Any) -> None:
    """kill -9 mid-run: what the store holds (all of it) reaches the server with `runlog sync`, once."""
    child = run_child(store, proxy, count=100_000, pause=0.02)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    ws = runlog.Workspace(store, tracking_uri=proxy.url)
    run = ws.get_run(run_id)
    wait_for(
        lambda: uploaded_offset(run.path, proxy.url) > 0 and len(run.get_metric_history("loss")) > 1500, 60, "uploads"
    )
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    assert run.get_status() == "Running"  # nobody got to mark it
    result = CliRunner().invoke(main, ["sync", run_id, "--store", str(store), "--tracking-uri", proxy.url])
    assert result.exit_code == 0, result.output
    assert_server_has_exactly_the_local_run(run, client)
    again = CliRunner().invoke(main, ["sync", run_id, "--store", str(store), "--tracking-uri", proxy.url])
    assert "up to date" in again.output


def test_uploader_killed_between_a_request_and_its_cursor_save(store: Path, proxy: FaultProxy, client: Any) -> None:
    """Die right after a log-batch was acknowledged, before the cursor moved: the re-send is dropped as duplicates."""
    child = run_child(store, proxy, count=2500, pause=0.0, env={"RUNLOG_UPLOAD_TEST_EXIT_AFTER_BATCHES": "2"})
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert child.wait(60) == 75  # the test hook's os._exit
    child.stdout.close()
    ws = runlog.Workspace(store, tracking_uri=proxy.url)
    run = ws.get_run(run_id)
    remote_id = run.mlflow_run_id
    assert remote_id
    sent = sum(len(client.get_metric_history(remote_id, n)) for n in ("loss", "acc"))
    cursor = json.loads(UploadCursor.path_for(run.path, target_name(proxy.url)).read_text())
    recorded = sum(c["next_step"].get("loss", 0) for c in cursor["metrics"].values())
    assert sent > recorded  # the second batch is on the server, the cursor does not know it
    result = CliRunner().invoke(main, ["sync", run_id, "--store", str(store), "--tracking-uri", proxy.url])
    assert result.exit_code == 0, result.output
    assert_server_has_exactly_the_local_run(run, client, remote_id)


EXITS_WITHOUT_COMPLETE = textwrap.dedent(
    """
    import sys, runlog
    from runlog._store import writer_for
    ws = runlog.Workspace(sys.argv[1], tracking_uri=sys.argv[2])
    run = runlog.Experiment(ws, "faults").start_logging(outputs=False)
    print(run.id, flush=True)
    for i in range(500):
        run.log("loss", 1.0 / (i + 1))
        if i % 50 == 0:
            run.log("acc", i / 10.0, step=i)
            writer_for(run.path).write_log(f"step {i}\\n")
    # no run.complete(): the interpreter's exit completes the run and gives the upload its bounded time
    """
)


def test_at_exit_the_upload_gets_a_bounded_time_then_sync_sends_the_rest(
    store: Path, proxy: FaultProxy, client: Any
) -> None:
    """A script that just ends: with the server down it still exits (after RUNLOG_UPLOAD_TIMEOUT); sync finishes."""
    proxy.refuse()
    child = subprocess.Popen(
        [sys.executable, "-c", EXITS_WITHOUT_COMPLETE, str(store), proxy.url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUNLOG_UPLOAD_TIMEOUT": "1"},
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert child.wait(60) == 0  # did not hang at exit
    child.stdout.close()
    proxy.up()
    run = runlog.Workspace(store, tracking_uri=proxy.url).get_run(run_id)
    assert run.get_status() == "Completed"
    assert run.mlflow_run_id is None  # nothing reached the server
    result = CliRunner().invoke(main, ["sync", run_id, "--store", str(store), "--tracking-uri", proxy.url])
    assert result.exit_code == 0, result.output
    assert_server_has_exactly_the_local_run(run, client)
    assert client.get_run(run.mlflow_run_id).info.status == "FINISHED"


def test_at_exit_with_the_server_up_everything_is_uploaded(store: Path, proxy: FaultProxy, client: Any) -> None:
    """A script that ends without complete(): the exit hook completes the run and the upload finishes."""
    child = subprocess.run(
        [sys.executable, "-c", EXITS_WITHOUT_COMPLETE, str(store), proxy.url],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    run = runlog.Workspace(store, tracking_uri=proxy.url).get_run(child.stdout.strip())
    assert_server_has_exactly_the_local_run(run, client)
    assert client.get_run(run.mlflow_run_id).info.status == "FINISHED"


def test_a_submitted_script_is_uploaded_while_it_runs(
    store: Path, proxy: FaultProxy, client: Any, tmp_path: Path
) -> None:
    """experiment.submit on a workspace with a tracking URI: the supervisor uploads the run, so the
    server has every point and the captured driver log when wait_for_completion returns."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(
        textwrap.dedent(
            """
            from runlog import Run
            run = Run.get_context()
            for i in range(200):
                run.log("loss", 1.0 / (i + 1))
                if i % 50 == 0:
                    run.log("acc", i / 10.0, step=i)
                    print(f"step {i}", flush=True)
            """
        )
    )
    ws = runlog.Workspace(store, tracking_uri=proxy.url)
    run = runlog.Experiment(ws, "submitted").submit(
        runlog.ScriptRunConfig(source_directory=str(source), script="train.py")
    )
    run.wait_for_completion(raise_on_error=True)
    assert run.get_status() == "Completed"
    wait_for(lambda: run.mlflow_run_id is not None, 30, "the remote run")
    assert_server_has_exactly_the_local_run(run, client)


# -- why nothing was sent (issue 17) -----------------------------------------------------------------


@pytest.fixture()
def broken(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A fault proxy with no server behind it; fast retries, short request and finish timeouts."""
    proxy = FaultProxy(free_port())  # (nothing listens on the backend port)
    for name, value in (
        ("RUNLOG_UPLOAD_RETRY_INITIAL", "0.05"),
        ("RUNLOG_UPLOAD_RETRY_MAX", "0.2"),
        ("RUNLOG_UPLOAD_INTERVAL", "0.1"),
        ("RUNLOG_UPLOAD_TIMEOUT", "1.5"),
        ("RUNLOG_UPLOAD_REQUEST_TIMEOUT", "0.5"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),  # ms
    ):
        monkeypatch.setenv(name, value)
    yield proxy
    proxy.close()


# fault -> (failure kind, HTTP status, what the explanation must say, per target: what to do)
FAULTS: dict[str, tuple[str, int | None, list[str], dict[str, str]]] = {
    "401": ("refused", 401, ["refused the credentials", "HTTP 401", "session expired"],
            {"mlflow": "MLFLOW_TRACKING_TOKEN", "otlp": "OTEL_EXPORTER_OTLP_HEADERS"}),
    "500": ("server", 500, ["failed (HTTP 500", "database is locked", "runlog retries"],
            {"mlflow": "server's log", "otlp": "server's log"}),
    "refused": ("unreachable", None, ["cannot reach", "connection refused"],
                {"mlflow": "check that the server is running", "otlp": "check that the server is running"}),
    "timeout": ("timeout", None, ["no answer from", "in time"],
                {"mlflow": "RUNLOG_UPLOAD_REQUEST_TIMEOUT", "otlp": "OTEL_EXPORTER_OTLP_TIMEOUT"}),
}  # fmt: skip


def _break(proxy: FaultProxy, fault: str) -> None:
    if fault == "401":
        proxy.answer = (401, b'{"error_code": "UNAUTHENTICATED", "message": "session expired"}')
    elif fault == "500":
        proxy.answer = (500, b'{"error_code": "INTERNAL_ERROR", "message": "database is locked"}')
    elif fault == "refused":
        proxy.refuse()
    else:
        proxy.delay = 2.0  # four times the request timeout


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("kind", ["mlflow", "otlp"])
def test_a_failed_upload_says_why_and_what_to_do(
    store: Path, broken: FaultProxy, kind: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    """401, 500, a refused connection or a timeout from a real local HTTP server: the warning of run.complete(),
    `runlog sync` and the uploader's last_failure each say which it was (status, answer excerpt, endpoint,
    exception class) and what to do; nothing is set aside and nothing is marked sent."""
    failure_kind, status, said, fix = FAULTS[fault]
    _break(broken, fault)
    uri = broken.url if kind == "mlflow" else f"otlp+{broken.url}"
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    run = runlog.Experiment(runlog.Workspace(store, tracking_uri=uri), "why").start_logging(outputs=False)
    for i in range(20):
        run.log("loss", 1.0 / (i + 1))
    writer_for(run.path).write_log("a line\n")
    run.complete()

    (warning,) = [_flat(r.getMessage()) for r in caplog.records if "did not finish" in r.getMessage()]
    for text in [*said, fix[kind], "not sent", f"runlog sync {run.id}"]:
        assert text in warning, (text, warning)

    result = CliRunner().invoke(
        main, ["sync", run.id, "--store", str(store), "--tracking-uri", uri, "--timeout", "1.5"]
    )
    assert result.exit_code == 1, result.output
    output = _flat(result.output)
    for text in [*said, fix[kind], "not synced"]:
        assert text in output, (text, output)

    options = UploadOptions()
    uploader = Uploader(run.path, make_target(uri, options), options)
    try:
        with pytest.raises(UploadError):
            uploader.sync(timeout=1.5)
    finally:
        uploader.target.close()
    failure = uploader.last_failure
    assert failure is not None and failure.kind == failure_kind and failure.status == status
    assert failure.endpoint == uploader.target.endpoint and broken.url in failure.endpoint
    if fault == "refused":
        assert "ConnectError" in failure.error or "URLError" in failure.error
    if fault == "timeout":
        assert "Timeout" in failure.error
    if status is not None:
        assert ("session expired" if status == 401 else "database is locked") in failure.excerpt
    assert uploader.pending().metric_events == 20 and uploader.stats.dead_letters == 0
    assert not list((run.path / "upload").glob("*.dead.jsonl"))
