"""The MLflow target against an in-memory server (httpx.MockTransport): mapping, retries, give-up paths."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _fake_mlflow import FakeMlflow
from click.testing import CliRunner
from upload_helpers import offline_run

import runlog
from runlog._errors import UploadUnavailable
from runlog._store import writer_for
from runlog._upload import Uploader, UploadOptions
from runlog._upload import mlflow as mlflow_target
from runlog._upload.mlflow import MlflowTarget, mlflow_key, redact_uri
from runlog.cli import main

URI = "http://mlflow.test"


def fast_options(**kwargs: Any) -> UploadOptions:
    values: dict[str, Any] = {
        "retry_initial": 0.001,
        "retry_max": 0.01,
        "interval": 0.02,
        "log_interval": 0.0,
        "finish_timeout": 10.0,
        "request_timeout": 5.0,
    }
    values.update(kwargs)
    return UploadOptions(**values)


def sync(run: runlog.Run, **kwargs: Any) -> Uploader:
    options = fast_options(**kwargs)
    uploader = Uploader(run.path, MlflowTarget(URI, options=options), options)
    assert uploader.sync(timeout=20)
    return uploader


def test_every_point_arrives_once_in_order_with_deterministic_steps(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """2500 step-less points get steps 0..2499, travel in log-batch requests of at most 1000 metrics, in order."""
    run = offline_run(exp)
    for i in range(2500):
        run.log("loss", 1.0 / (i + 1))
    run.log("acc", 0.5, step=10)
    run.log("acc", 0.6)  # no step: the previous step + 1
    run.complete()
    sync(run)
    remote = fake.only_run()
    assert fake.history(remote, "loss") == [(1.0 / (i + 1), i) for i in range(2500)]
    assert fake.history(remote, "acc") == [(0.5, 10), (0.6, 11)]
    batches = [json.loads(r.read()) for r in fake.requests if r.url.path.endswith("runs/log-batch")]
    assert all(len(b["metrics"]) <= 1000 and len(r.read()) < 1_000_000 for b, r in zip(batches, fake.requests))
    assert sum(len(b["metrics"]) for b in batches) == 2502
    assert fake.runs[remote]["info"]["status"] == "FINISHED"
    assert fake.runs[remote]["tags"]["runlog.run_id"] == run.id


def test_timestamps_are_the_logged_times_in_ms(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """Each point's timestamp is its event time in ms, so a re-send is an exact duplicate."""
    run = offline_run(exp)
    run.log("x", 1.0)
    run.complete()
    sync(run)
    logged = run.get_metric_history("x")[0].time
    (point,) = fake.runs[fake.only_run()]["metrics"]
    assert point[1] == int(logged * 1000)


def test_resending_after_a_lost_cursor_duplicates_nothing(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """Losing the cursor (a crash before it was saved) re-sends everything; the server keeps each point once."""
    run = offline_run(exp)
    for i in range(1500):
        run.log("loss", float(i % 7))  # repeated values: only step/timestamp tell them apart
    run.complete()
    sync(run)
    cursor_file = next((run.path / "upload").glob("mlflow-*.json"))
    cursor_file.unlink()
    again = sync(run)
    assert again.stats.metric_events == 1500  # really sent again
    remote = fake.only_run()  # found by its runlog.run_id tag: no second remote run
    assert fake.history(remote, "loss") == [(float(i % 7), i) for i in range(1500)]
    assert sum(p.endswith("runs/create") for p in fake.paths()) == 1


def test_a_second_sync_sends_nothing(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """An up-to-date run makes no request at all on sync."""
    run = offline_run(exp)
    run.log("a", 1)
    writer_for(run.path).write_log("hello\n")
    run.complete()
    sync(run)
    before = len(fake.requests)
    again = sync(run)
    assert len(fake.requests) == before
    assert (again.stats.metric_events, again.stats.files) == (0, 0)


def test_experiment_create_race_is_resolved_by_get_by_name(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """experiments/create losing a race (400 RESOURCE_ALREADY_EXISTS) falls back to get-by-name."""

    def someone_else_creates_it(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("experiments/create") and "test-exp" not in fake.experiments:
            fake.experiments["test-exp"] = "42"
            return httpx.Response(400, json={"error_code": "RESOURCE_ALREADY_EXISTS", "message": "exists"})
        return None

    fake.faults.append(someone_else_creates_it)
    run = offline_run(exp)
    run.log("a", 1)
    sync(run)
    assert fake.runs[fake.only_run()]["info"]["experiment_id"] == "42"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(exp: runlog.Experiment, fake: FakeMlflow, status: int) -> None:
    """408/429/5xx answers are retried until the batch goes through."""
    run = offline_run(exp)
    run.log("a", 1.0)
    fake.fail_next(httpx.Response(status), httpx.Response(status), when="log-batch")
    sync(run)
    assert fake.history(fake.only_run(), "a") == [(1.0, 0)]
    assert sum(p.endswith("log-batch") for p in fake.paths()) == 3


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_transport_errors_and_timeouts_are_retried(
    exp: runlog.Experiment, fake: FakeMlflow, error: type[Exception]
) -> None:
    """Connection errors and timeouts count as 'server unavailable' and are retried."""
    run = offline_run(exp)
    run.log("a", 1.0)
    fake.fail_next(error, error, when="")
    sync(run)
    assert fake.history(fake.only_run(), "a") == [(1.0, 0)]


def test_retry_after_is_honoured(exp: runlog.Experiment, fake: FakeMlflow, caplog: pytest.LogCaptureFixture) -> None:
    """A 429 with Retry-After makes the next attempt wait that long (not the short backoff); the wait is logged."""
    run = offline_run(exp)
    run.log("a", 1.0)
    fake.fail_next(httpx.Response(429, headers={"Retry-After": "0.3"}), when="log-batch")
    caplog.set_level(logging.DEBUG, logger="runlog.upload")
    sync(run)
    waits = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert any("HTTP 429" in w and "retrying in 0.30 s" in w for w in waits), waits
    assert fake.history(fake.only_run(), "a") == [(1.0, 0)]


def test_a_rejected_batch_is_split_and_only_the_culprit_set_aside(
    exp: runlog.Experiment, fake: FakeMlflow, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 is not retried: the batch is halved until the bad point is alone; it goes to the dead-letter file."""

    def reject_poison(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("log-batch") and b'"poison"' in request.read():
            return httpx.Response(400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": "bad value"})
        return None

    fake.faults.append(reject_poison)
    run = offline_run(exp)
    for i in range(100):
        run.log("good", float(i))
        if i == 37:
            run.log("poison", 1.0)
    run.complete()
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    uploader = sync(run)
    remote = fake.only_run()
    assert fake.history(remote, "good") == [(float(i), i) for i in range(100)]
    assert uploader.stats.dead_letters == 1
    (dead,) = [json.loads(line) for line in next((run.path / "upload").glob("*.dead.jsonl")).read_text().splitlines()]
    assert dead["code"] == "INVALID_PARAMETER_VALUE" and dead["items"][0]["name"] == "poison"
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "poison" in warning and "INVALID_PARAMETER_VALUE" in warning and "Fix:" in warning
    assert fake.runs[remote]["info"]["status"] == "FINISHED"  # the rest kept flowing


def test_mapping_of_values_rows_tables_tags_properties_and_files(
    exp: runlog.Experiment, fake: FakeMlflow, tmp_path: Path
) -> None:
    """NaN/inf/bool, strings -> tags, lists, rows/tables -> column metrics + JSON table, files -> artifacts."""
    run = offline_run(exp)
    run.log("v", float("nan"))
    run.log("v", float("inf"))
    run.log("v", True)
    run.log("model", "resnet")
    run.log_list("lst", [1, 2, 3])
    run.log_row("tbl", epoch=1, loss=0.5, note="a")
    run.log_table("tbl", {"epoch": [2, 3], "loss": [0.4, 0.3], "note": ["b", "c"]})
    run.log("bad name (x)", 1.0)
    image = tmp_path / "img.png"
    image.write_bytes(b"\x89PNG fake")
    run.log_image("plot", path=str(image))
    run.tag("team", "vision")
    run.tag("temp", "1")
    run.remove_tags("temp")
    run.add_properties({"lr": "0.1"})
    run.description = "a description"
    run.display_name = "nice name"
    run.complete()
    sync(run)
    remote = fake.only_run()
    state = fake.runs[remote]
    values = [v for v, _ in fake.history(remote, "v")]
    assert str(values[0]) == "nan" and values[1:] == [float("inf"), 1.0]
    assert state["tags"]["model"] == "resnet"
    assert fake.history(remote, "lst") == [(1.0, 0), (2.0, 1), (3.0, 2)]
    assert fake.history(remote, "tbl/loss") == [(0.5, 0), (0.4, 1), (0.3, 2)]
    assert fake.history(remote, "bad name _x_") == [(1.0, 0)]
    table = json.loads(fake.artifacts[f"{state['info']['experiment_id']}/{remote}/artifacts/runlog/tables/tbl.json"])
    assert table == {"columns": ["epoch", "loss", "note"], "data": [[1, 0.5, "a"], [2, 0.4, "b"], [3, 0.3, "c"]]}
    assert json.loads(state["tags"]["mlflow.loggedArtifacts"]) == [{"path": "runlog/tables/tbl.json", "type": "table"}]
    image_name = next(n for n in run.get_file_names() if n.startswith("images/"))
    assert fake.artifacts[f"{state['info']['experiment_id']}/{remote}/artifacts/{image_name}"] == b"\x89PNG fake"
    assert state["tags"]["team"] == "vision" and "temp" not in state["tags"]
    assert state["params"] == {"lr": "0.1"}
    assert state["tags"]["mlflow.note.content"] == "a description"
    assert state["info"]["run_name"] == "nice name"
    assert state["info"]["status"] == "FINISHED"
    assert state["info"]["end_time"] == int(run._reader.state().end_time * 1000)  # type: ignore[operator]


def test_mlflow_keys_are_made_valid() -> None:
    """Names the server would refuse are mapped to valid keys (documented)."""
    assert mlflow_key("loss (train)") == "loss _train_"
    assert mlflow_key("/a//b/./c") == "a/b/_/c"
    assert len(mlflow_key("x" * 400)) == 250


def test_run_started_on_a_tracking_workspace_uploads_in_the_background(store: Path, fake: FakeMlflow) -> None:
    """start_logging() on Workspace(tracking_uri=...) uploads; complete() waits; the remote id is on the run."""
    ws = runlog.Workspace(store, tracking_uri=URI)
    run = runlog.Experiment(ws, "bg").start_logging(outputs=False)
    writer_for(run.path).write_log("line 1\n")
    for i in range(300):
        run.log("loss", float(i))
    remote_id = run.mlflow_run_id
    assert remote_id is not None and remote_id in fake.runs
    run.complete()
    assert fake.history(remote_id, "loss") == [(float(i), i) for i in range(300)]
    assert fake.runs[remote_id]["info"]["status"] == "FINISHED"
    log = (run.path / "files" / "logs" / "driver_log.txt").read_bytes()
    assert fake.artifacts[f"1/{remote_id}/artifacts/logs/driver_log.txt"] == log
    assert run.get_details()["mlflowRunId"] == remote_id
    remote = run.get_remote_metrics()
    assert [(p.value, p.step) for p in remote["loss"]] == [(float(i), i) for i in range(300)]


def test_child_run_is_uploaded_with_its_parent_link(store: Path, fake: FakeMlflow) -> None:
    """A child run gets its own remote run, tagged mlflow.parentRunId."""
    ws = runlog.Workspace(store, tracking_uri=URI)
    run = runlog.Experiment(ws, "fam").start_logging(outputs=False)
    parent_remote = run.mlflow_run_id
    child = run.child_run("child")
    child.log("c", 1.0)
    child.complete()
    run.complete()
    child_remote = child.mlflow_run_id
    assert child_remote and child_remote != parent_remote
    assert fake.runs[child_remote]["tags"]["mlflow.parentRunId"] == parent_remote


def test_the_driver_log_is_visible_while_running_and_identical_at_the_end(store: Path, fake: FakeMlflow) -> None:
    """The log artifact is re-uploaded as the log grows, and equals the local file once the run ended."""
    ws = runlog.Workspace(store, tracking_uri=URI)
    run = runlog.Experiment(ws, "logs").start_logging(outputs=False)
    writer = writer_for(run.path)
    writer.write_log("first line\n")
    remote_id = run.mlflow_run_id
    key = f"1/{remote_id}/artifacts/logs/driver_log.txt"
    deadline = time.monotonic() + 10
    while fake.artifacts.get(key) != b"first line\n" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.artifacts.get(key) == b"first line\n"
    writer.write_log("second line\n")
    run.complete()
    assert fake.artifacts[key] == (run.path / "files" / "logs" / "driver_log.txt").read_bytes()


def test_an_unreachable_server_never_blocks_logging_and_sync_sends_the_rest(
    store: Path, fake: FakeMlflow, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With the server down, run.log stays local, complete() gives up after the timeout with a hint, sync finishes."""
    down = True

    def maybe_down(request: httpx.Request) -> httpx.Response | None:
        if down:
            raise httpx.ConnectError("refused", request=request)
        return None

    fake.faults.append(maybe_down)
    monkeypatch.setenv("RUNLOG_UPLOAD_TIMEOUT", "0.3")
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    ws = runlog.Workspace(store, tracking_uri=URI)
    run = runlog.Experiment(ws, "down").start_logging(outputs=False)
    for i in range(2000):
        run.log("loss", float(i))
    run.complete()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "2000 metric event(s)" in warning and f"runlog sync {run.id}" in warning
    down = False
    result = CliRunner().invoke(main, ["sync", run.id, "--tracking-uri", URI])
    assert result.exit_code == 0, result.output
    assert fake.history(fake.only_run(), "loss") == [(float(i), i) for i in range(2000)]


def test_credentials_are_sent_and_never_logged(
    exp: runlog.Experiment, fake: FakeMlflow, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """MLFLOW_TRACKING_TOKEN -> Bearer; USERNAME/PASSWORD -> Basic; neither appears in any log line."""
    caplog.set_level(logging.DEBUG)
    run = offline_run(exp)
    run.log("a", 1.0)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret-token")
    sync(run)
    assert all(r.headers["Authorization"] == "Bearer s3cret-token" for r in fake.requests)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pa55word")
    (run.path / "upload").joinpath(next(p.name for p in (run.path / "upload").glob("*.json"))).unlink()
    sync(run)
    assert fake.requests[-1].headers["Authorization"].startswith("Basic ")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cret-token" not in text and "pa55word" not in text
    assert redact_uri("http://bob:hunter2@host:5000/x?token=abc") == "http://***@host:5000/x"


def test_a_non_http_tracking_uri_is_refused_with_the_fix() -> None:
    """A file: or databricks URI is not a server runlog can reach: ValueError naming what to pass."""
    with pytest.raises(ValueError, match="http:// or https://"):
        MlflowTarget("file:./mlruns")


def test_workspace_tracking_uri_defaults_from_the_environment(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RUNLOG_TRACKING_URI, else an http(s) MLFLOW_TRACKING_URI; get_upload_tracking_uri says how to set one."""
    with pytest.raises(ValueError, match="RUNLOG_TRACKING_URI"):
        runlog.Workspace(store).get_upload_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:./mlruns")
    assert runlog.Workspace(store).tracking_uri is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://a:1")
    assert runlog.Workspace(store).get_upload_tracking_uri() == "http://a:1"
    monkeypatch.setenv("RUNLOG_TRACKING_URI", "http://b:2")
    assert runlog.Workspace(store).get_upload_tracking_uri() == "http://b:2"
    assert runlog.Workspace(store, tracking_uri="http://c:3").get_upload_tracking_uri() == "http://c:3"
    monkeypatch.delenv("RUNLOG_TRACKING_URI")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    Path("runlog.json").write_text(json.dumps({"store": str(store), "tracking_uri": "http://d:4"}))
    assert runlog.Workspace.from_config().get_upload_tracking_uri() == "http://d:4"
    # The MLflow tracking URI is the store's own, whatever the upload target is.
    assert runlog.Workspace.from_config().get_mlflow_tracking_uri() == f"runlog://{store.absolute().as_posix()}"


def test_remote_history_is_read_page_by_page(
    exp: runlog.Experiment, fake: FakeMlflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """metrics/get-history pages are followed to the end."""
    monkeypatch.setattr(mlflow_target, "HISTORY_PAGE", 7)
    run = offline_run(exp)
    for i in range(20):
        run.log("a", float(i))
    sync(run)
    target = MlflowTarget(URI)
    points = list(target.metric_history(fake.only_run(), "a"))
    assert [p["step"] for p in points] == list(range(20))
    assert sum(p.endswith("get-history") for p in fake.paths()) == 3


def test_a_run_create_whose_answer_is_lost_does_not_create_a_second_run(
    exp: runlog.Experiment, fake: FakeMlflow
) -> None:
    """runs/create succeeds but the answer times out: the retry searches first and finds the run."""
    lost = []

    def create_then_time_out(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("runs/create") and not lost:
            lost.append(fake._route(request))
            raise httpx.ReadTimeout("answer lost", request=request)
        return None

    fake.faults.append(create_then_time_out)
    run = offline_run(exp)
    run.log("a", 1.0)
    sync(run)
    assert lost and len(fake.runs) == 1
    assert fake.history(fake.only_run(), "a") == [(1.0, 0)]
    assert sum(p.endswith("runs/create") for p in fake.paths()) == 1


def test_a_token_with_a_stray_newline_is_sent_clean_and_never_shown(
    exp: runlog.Experiment, fake: FakeMlflow, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A token read from a mounted secret ends with a newline: it is stripped; a control character inside is refused unnamed."""
    caplog.set_level(logging.DEBUG)
    run = offline_run(exp)
    run.log("a", 1.0)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret-token\n")
    sync(run)
    assert all(r.headers["Authorization"] == "Bearer s3cret-token" for r in fake.requests)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret\ntoken")
    with pytest.raises(ValueError, match="MLFLOW_TRACKING_TOKEN") as info:
        MlflowTarget(URI)
    assert "s3cret" not in str(info.value)


def test_a_request_the_client_cannot_send_is_reported_without_its_headers() -> None:
    """httpx's LocalProtocolError quotes the offending header value (a credential): the upload error never carries it."""

    def bad_header(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError("Illegal header value b'Bearer s3cret-token\\x00'")

    target = MlflowTarget(URI, transport=httpx.MockTransport(bad_header), options=fast_options())
    with pytest.raises(UploadUnavailable) as info:
        target._request_once("GET", "mlflow/experiments/get-by-name", "look up experiment 'e'")
    assert "s3cret-token" not in str(info.value) and "LocalProtocolError" in str(info.value)
    target.close()


def test_a_growing_log_is_streamed_up_to_its_size_not_read_whole(
    exp: runlog.Experiment, fake: FakeMlflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver log is sent in chunks with its size as Content-Length (memory does not grow with the log), retries included."""
    run = offline_run(exp)
    log = run.path / "files" / "logs" / "driver_log.txt"
    writer_for(run.path).write_log("".join(f"line {i}\n" for i in range(300_000)))  # ~3 MB
    size = log.stat().st_size
    seen: list[tuple[bool, str | None]] = []

    class Recording(httpx.BaseTransport):
        """Notes how each log upload's body is held before the fake server reads it."""

        def __init__(self, inner: httpx.BaseTransport) -> None:
            self.inner = inner

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT" and request.url.path.endswith("logs/driver_log.txt"):
                seen.append((isinstance(request.stream, httpx.ByteStream), request.headers.get("Content-Length")))
                if len(seen) == 1:
                    with open(log, "ab") as fh:  # the run logs on while the first attempt travels
                        fh.write(b"written during the upload\n")
                    return httpx.Response(503)
            return self.inner.handle_request(request)

    monkeypatch.setattr(mlflow_target, "default_transport", Recording(fake.transport()))
    sync(run)
    assert [whole for whole, _ in seen] == [False, False]
    assert seen[0][1] == str(size) and seen[1][1] == str(log.stat().st_size)
    key = next(k for k in fake.artifacts if k.endswith("logs/driver_log.txt"))
    assert fake.artifacts[key] == log.read_bytes()
