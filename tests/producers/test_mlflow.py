"""MLflow clients log into runlog runs through the ``runlog:`` tracking store (runlog.mlflow).

Real MLflow (the version `make test` installs) against the plugin; where a library is too heavy for
the test environment (Lightning, transformers need torch), its exact call sequence is replayed with
MLflow's own client, and the test names the version it reproduces.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import pytest
from _repo import REPO
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

import runlog
from runlog._store import mlflow_names as _mlflow_names
from runlog.cli import main as cli
from runlog.mlflow import RunlogTrackingStore


def write(path: Path, code: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return path


# -- the URI -------------------------------------------------------------------------------------


def test_tracking_uri_is_the_stores_own_and_round_trips(tmp_path: Path) -> None:
    """get_mlflow_tracking_uri() needs no server: runlog:///abs/path, quoted, naming the store back."""
    store = tmp_path / "a store%"
    ws = runlog.Workspace(store)
    uri = ws.get_mlflow_tracking_uri()
    assert uri.startswith("runlog:///") and " " not in uri
    assert _mlflow_names.store_path(uri) == store.absolute()
    assert _mlflow_names.store_path(f"runlog:{store}") == store.absolute()
    with pytest.raises(ValueError, match="three slashes"):
        _mlflow_names.store_path("runlog://host/path")


def test_experiment_names_mlflow_allows_map_to_distinct_folders() -> None:
    """Spaces and '/' (MLflow names) become valid runlog folders; two names never share one."""
    assert _mlflow_names.experiment_folder("plain-name_1") == "plain-name_1"
    for name in ("éval données", "_private", "日本語"):  # run ids start with the folder: ASCII, a letter or digit first
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_\-]*", _mlflow_names.experiment_folder(name))
    a = _mlflow_names.experiment_folder("/Users/me/my exp")
    b = _mlflow_names.experiment_folder("/Users/me/my-exp")
    assert a != b
    for folder in (a, b):
        runlog._model.workspace.validate_experiment_name(folder)


# -- the fluent API and MlflowClient ---------------------------------------------------------------


def test_fluent_api_logs_into_a_runlog_run(ws: runlog.Workspace, uri: str) -> None:
    """set_experiment, start_run, log_param(s), log_metric(s) with steps and timestamps, set_tag(s), end_run."""
    first = mlflow.set_experiment("fluent sweep/1")
    assert mlflow.set_experiment("fluent sweep/1").experiment_id == first.experiment_id  # found by name
    with mlflow.start_run(run_name="trial-1") as active:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=4)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"team": "vision"})
        MlflowClient().log_batch(
            active.info.run_id, metrics=[Metric("lr_now", 0.5, 1_700_000_000_100, 7)], params=[Param("seed", "1")],
            tags=[RunTag("source", "batch")],
        )  # fmt: skip
        run_id = active.info.run_id
        assert runlog.Run.get_context().id == run_id  # the MLflow run is runlog's active run
    run = ws.get_run(run_id)
    assert run.get_status() == "Completed"
    assert run.display_name == "trial-1"
    assert run.experiment.name == _mlflow_names.experiment_folder("fluent sweep/1")
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1 / 3, 0.25, 0.2], "acc": 0.9, "f1": 0.8, "lr_now": 0.5}
    assert run.get_properties() == {"lr": "0.01", "layers": "3", "opt": "adam", "seed": "1"}
    tags = run.get_tags()
    assert (tags["stage"], tags["team"], tags["source"]) == ("dev", "vision", "batch")
    history = MlflowClient().get_metric_history(run_id, "loss")
    assert [(m.value, m.step, m.timestamp) for m in history] == [
        (1.0 / (s + 1), s, 1_700_000_000_000 + s) for s in range(5)
    ]
    got = MlflowClient().get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "trial-1"
    assert got.info.experiment_id == first.experiment_id
    assert got.data.metrics["loss"] == 0.2 and got.data.params["lr"] == "0.01"
    out = CliRunner().invoke(cli, ["metrics", run_id, "--name", "loss", "--format", "json"])
    assert out.exit_code == 0 and "0.25" in out.output
    from runlog.ui.query import StoreQuery  # the viewer's reader

    row = next(r for r in StoreQuery(ws.store).runs()["runs"] if r["id"] == run_id)
    assert row["metrics"]["loss"]["last"] == 0.2 and row["metrics"]["loss"]["count"] == 5


def test_runs_made_with_runlogs_api_read_through_mlflow(exp: runlog.Experiment, uri: str) -> None:
    """run.log / properties / tags of a runlog run are metrics / params / tags to MLflow; children carry parentRunId."""
    with exp.start_logging(outputs=False) as run:
        run.log("loss", 0.5)
        run.log("loss", 0.25, step=3)
        run.log("phase", "warmup")  # not a number: not an MLflow metric
        run.add_properties({"lr": "0.1"})
        run.tag("owner", "me")
        child = run.child_run("fold-1")
        child.complete()
    got = MlflowClient().get_run(run.id)
    assert got.info.status == "FINISHED" and got.info.experiment_id == exp.id
    assert got.data.metrics == {"loss": 0.25}
    assert got.data.params == {"lr": "0.1"}
    assert got.data.tags["owner"] == "me"
    assert [(m.value, m.step) for m in MlflowClient().get_metric_history(run.id, "loss")] == [(0.5, 0), (0.25, 3)]
    assert MlflowClient().get_run(child.id).data.tags["mlflow.parentRunId"] == run.id
    assert MlflowClient().get_run(child.id).info.run_name == "fold-1"


def test_artifacts_land_among_the_runs_files(ws: runlog.Workspace, uri: str, tmp_path: Path) -> None:
    """log_artifact(s), log_dict, log_text, log_figure and log_image become run files; no temporary names show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "weights.bin").write_bytes(b"\0" * 100)
    (tmp_path / "ckpt" / "meta.yaml").write_text("score: 1\n")
    (tmp_path / "report.txt").write_text("done\n")
    with mlflow.start_run() as active:
        mlflow.log_artifact(str(tmp_path / "report.txt"))
        mlflow.log_artifacts(str(tmp_path / "ckpt"), artifact_path="checkpoints/epoch=1")
        mlflow.log_dict({"a": 1}, "config/params.json")
        mlflow.log_text("hello", "notes/readme.txt")
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        mlflow.log_figure(fig, "plots/curve.png")
        plt.close(fig)
        mlflow.log_image(np.zeros((4, 4, 3), dtype=np.uint8), "images/zeros.png")
    run = ws.get_run(active.info.run_id)
    names = run.get_file_names()
    for name in ("report.txt", "checkpoints/epoch=1/weights.bin", "checkpoints/epoch=1/meta.yaml", "config/params.json",
                 "notes/readme.txt", "plots/curve.png", "images/zeros.png"):  # fmt: skip
        assert name in names
    assert not [n for n in names if ".artifact.uploading." in n]
    assert json.loads(Path(run.download_file("config/params.json", tmp_path / "out.json")).read_text()) == {"a": 1}
    assert {f.path for f in MlflowClient().list_artifacts(run.id)} >= {"report.txt", "config", "plots"}


# -- the call sequences of real libraries ------------------------------------------------------------


def test_seed_snippet_in_an_interactive_run_lightning_sequence(exp: runlog.Experiment, tmp_path: Path) -> None:
    """The Azure ML seed snippet with PyTorch Lightning 2.6's MLFlowLogger (``_run_id`` preset) replayed call by call.

    Sequence from lightning/pytorch/loggers/mlflow.py (2.6): MlflowClient(tracking_uri) in __init__; on first
    ``.experiment``: mlflow.set_tracking_uri, get_run(_run_id); log_hyperparams: log_batch(params=[Param(k,
    str(v)[:MAX_PARAM_VAL_LENGTH])]); log_metrics: log_batch(metrics=[Metric(k, v, int(time()*1000), step or 0)]);
    checkpoints: log_artifact(run_id, path, artifact_path) and log_artifacts(run_id, tmp_dir, artifact_path);
    finalize: get_run, set_terminated(run_id, "FINISHED").
    """
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    ckpt = tmp_path / "epoch=0-step=10.ckpt"
    ckpt.write_bytes(b"weights")
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "metadata.yaml").write_text("score: 0.5\n")
    try:
        with exp.start_logging(outputs=False) as run:
            active = runlog.Run.get_context()
            ws = active.experiment.workspace
            mlflow_url = ws.get_mlflow_tracking_uri()
            client = MlflowClient(mlflow_url)  # MLFlowLogger(experiment_name=..., tracking_uri=mlflow_url)
            run_id = active.id  # mlf_logger._run_id = run.id
            mlflow.set_tracking_uri(mlflow_url)
            assert client.get_run(run_id).info.experiment_id == exp.id
            params = {"lr": 0.01, "batch_size": 32, "model/hidden": 128}
            client.log_batch(run_id=run_id, params=[Param(key=k, value=str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in params.items()])
            for step in range(3):
                timestamp_ms = int(time.time() * 1000)
                client.log_batch(
                    run_id=run_id,
                    metrics=[Metric(key="train_loss", value=1.0 / (step + 1), timestamp=timestamp_ms, step=step or 0),
                             Metric(key="epoch", value=0, timestamp=timestamp_ms, step=step or 0)],
                )  # fmt: skip
            client.log_artifact(run_id, str(ckpt), "epoch=0-step=10")
            client.log_artifacts(run_id, str(meta), "epoch=0-step=10")
            if client.get_run(run_id):
                client.set_terminated(run_id, "FINISHED")
            assert run.get_status() == "Running"  # its owner (this with block) ends it
            run.log("after_finalize", 1.0)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"train_loss": [1.0, 0.5, 1 / 3], "epoch": [0, 0, 0], "after_finalize": 1.0}
    assert run.get_properties() == {"lr": "0.01", "batch_size": "32", "model/hidden": "128"}
    assert {"epoch=0-step=10/epoch=0-step=10.ckpt", "epoch=0-step=10/metadata.yaml"} <= set(run.get_file_names())
    out = CliRunner().invoke(cli, ["metrics", run.id, "--format", "json"])
    assert out.exit_code == 0 and "train_loss" in out.output


def test_lightning_logger_creating_its_own_run(ws: runlog.Workspace, uri: str) -> None:
    """Lightning 2.6 MLFlowLogger without a run id: get_experiment_by_name, create_experiment, create_run with
    resolved tags (mlflow.runName), metrics, then finalize("failed") -> set_terminated(run_id, "FAILED")."""
    from mlflow.tracking.context.registry import resolve_tags

    client = MlflowClient(uri)
    assert client.get_experiment_by_name("lightning_logs") is None
    experiment_id = client.create_experiment(name="lightning_logs", artifact_location=None)
    with pytest.raises(MlflowException) as exists:
        client.create_experiment(name="lightning_logs")
    assert exists.value.error_code == "RESOURCE_ALREADY_EXISTS"
    created = client.create_run(experiment_id=experiment_id, tags=resolve_tags({"mlflow.runName": "lit-run"}))
    run_id = created.info.run_id
    client.log_batch(run_id=run_id, metrics=[Metric("val_loss", 0.3, int(time.time() * 1000), 0)])
    if client.get_run(run_id):
        client.set_terminated(run_id, "FAILED")
    run = ws.get_run(run_id)
    assert run.get_status() == "Failed" and run.display_name == "lit-run"
    assert run.get_metrics() == {"val_loss": 0.3}
    assert client.get_run(run_id).info.status == "FAILED"


def test_transformers_mlflow_callback_sequence(exp: runlog.Experiment, ws: runlog.Workspace, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers 4.57 MLflowCallback (integration_utils.py setup/on_log/on_train_end) replayed:
    is_tracking_uri_set, set_experiment(MLFLOW_EXPERIMENT_NAME), start_run(run_name=args.run_name, nested=False),
    log_params(chunks of 100, synchronous=False), set_tags(json MLFLOW_TAGS), log_metrics(..., step=global_step,
    synchronous=False) per log, end_run() at train end. MLFLOW_RUN_ID names a runlog run started elsewhere."""
    with exp.start_logging(outputs=False) as run:
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", exp.name)
        monkeypatch.setenv("MLFLOW_RUN_ID", run.id)
        monkeypatch.setenv("MLFLOW_TAGS", json.dumps({"hf": "yes"}))
        assert mlflow.is_tracking_uri_set()
        mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
        mlflow.start_run(run_name="hf-trainer", nested=False)
        assert mlflow.active_run().info.run_id == run.id
        assert "MLFLOW_RUN_ID" not in os.environ  # MLflow itself consumes it
        params = {f"p{i}": i for i in range(150)}
        items = list(params.items())
        for i in range(0, len(items), 100):
            mlflow.log_params(dict(items[i : i + 100]), synchronous=False)
        mlflow.set_tags(json.loads(os.environ["MLFLOW_TAGS"]))
        for global_step in (10, 20, 30):
            mlflow.log_metrics(metrics={"loss": 1.0 / global_step, "learning_rate": 5e-5}, step=global_step, synchronous=False)
        mlflow.end_run()
        assert run.get_status() == "Running"
    assert run.get_status() == "Completed"
    assert run.display_name == "hf-trainer"
    # synchronous=False: MLflow's async queue may write two batches in either order; runlog keeps write order.
    assert sorted(run.get_metrics()["loss"]) == sorted([0.1, 0.05, 1 / 30])
    assert len(run.get_properties()) == 150 and run.get_tags()["hf"] == "yes"
    history = MlflowClient().get_metric_history(run.id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(10, 0.1), (20, 0.05), (30, 1 / 30)]


def test_sklearn_autolog_with_defaults(tmp_path: Path, store: Path) -> None:
    """mlflow.sklearn.autolog() with its defaults (datasets, MLflow 3 logged models): no error, metrics once,
    the model kept among the run's files and loadable back."""
    script = write(tmp_path / "auto.py", """
        import mlflow, runlog
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        ws = runlog.Workspace()
        mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())
        mlflow.set_experiment("autolog")
        mlflow.sklearn.autolog()
        X, y = load_iris(return_X_y=True)
        with mlflow.start_run() as active:
            LogisticRegression(max_iter=300).fit(X, y)
        model = mlflow.last_logged_model()
        loaded = mlflow.sklearn.load_model(f"models:/{model.model_id}")
        print("RUN", active.info.run_id, "PRED", list(loaded.predict(X[:2])), "STATUS", model.status)
    """)
    env = {**os.environ, "RUNLOG_STORE": str(store), "PYTHONWARNINGS": "ignore"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ERROR" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    words = proc.stdout.split()
    run = runlog.Workspace(store).get_run(words[words.index("RUN") + 1])
    assert "READY" in proc.stdout
    assert run.get_status() == "Completed"
    metrics = run.get_metrics()
    assert isinstance(metrics["training_accuracy_score"], float)  # logged once, not doubled by the model link
    assert run.get_properties()["max_iter"] == "300"
    assert "models/model/MLmodel" in run.get_file_names()


def test_submitted_script_logs_through_mlflow_with_no_set_up(
    exp: runlog.Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """experiment.submit sets MLFLOW_TRACKING_URI / MLFLOW_RUN_ID / MLFLOW_EXPERIMENT_NAME: a plain
    mlflow.log_metric lands in the submitted run, as does the seed snippet's Lightning sequence; mlflow's own
    end_run at exit does not end the run before the script does."""
    src = tmp_path / "src"
    write(src / "train.py", """
        import time, mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Metric
        from runlog import Run
        mlflow.log_param("lr", 0.1)                       # no start_run, no tracking URI: the environment's
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        run = Run.get_context()
        ws = run.experiment.workspace
        client = MlflowClient(ws.get_mlflow_tracking_uri())  # the seed snippet, MLFlowLogger's calls
        mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())
        assert client.get_run(run.id).info.run_id == run.id
        client.log_batch(run_id=run.id, metrics=[Metric("val_acc", 0.75, int(time.time() * 1000), 2)])
        client.set_terminated(run.id, "FINISHED")
        print("still", run.get_status())
        with mlflow.start_run(nested=True):               # a new run in the job's experiment
            mlflow.log_metric("inner", 1.0)
    """)
    config = runlog.ScriptRunConfig(source_directory=str(src), script="train.py")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "stale")  # exported by the submitter's own mlflow.set_experiment
    run = exp.submit(config)
    run.wait_for_completion(raise_on_error=False)
    log = (run.path / "files" / "logs" / "driver_log.txt").read_text()
    assert run.get_status() == "Completed", log
    assert "still Running" in log
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1 / 3], "val_acc": 0.75}
    assert run.get_properties() == {"lr": "0.1"}
    (child,) = run.get_children()
    assert child.get_metrics() == {"inner": 1.0} and child.get_status() == "Completed"


def test_each_rank_of_a_submitted_job_logs_through_mlflow(exp: runlog.Experiment, tmp_path: Path) -> None:
    """Both ranks of `--nproc 2` get MLflow's environment and log into the one run."""
    src = tmp_path / "src"
    write(src / "ddp.py", """
        import os, mlflow
        mlflow.log_metric(f"rank{os.environ['RANK']}_loss", 0.5, step=1)
    """)
    config = runlog.ScriptRunConfig(
        source_directory=str(src), script="ddp.py", distributed_job_config=runlog.PyTorchConfiguration(process_count=2)
    )
    run = exp.submit(config)
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"rank0_loss": 0.5, "rank1_loss": 0.5}


# -- bad input -------------------------------------------------------------------------------------------


# -- uploads -----------------------------------------------------------------------------------------------


def test_what_mlflow_clients_log_is_uploaded_once(store: Path, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with an upload target: points MLflow clients logged reach the remote server, each once."""
    from _fake_mlflow import FakeMlflow

    from runlog._upload import mlflow as mlflow_target

    server = FakeMlflow()
    monkeypatch.setattr(mlflow_target, "default_transport", server.transport())
    for name, value in (("RETRY_INITIAL", "0.001"), ("RETRY_MAX", "0.01"), ("INTERVAL", "0.02"), ("LOG_INTERVAL", "0")):
        monkeypatch.setenv(f"RUNLOG_UPLOAD_{name}", value)
    ws = runlog.Workspace(store, tracking_uri="http://mlflow.test")
    run = runlog.Experiment(ws, "up").start_logging(outputs=False)
    for step in range(5):
        MlflowClient().log_metric(run.id, "loss", 1.0 / (step + 1), step=step)
    run.complete()
    remote = run.mlflow_run_id
    assert remote is not None
    assert server.history(remote, "loss") == [(1.0 / (s + 1), s) for s in range(5)]
    # A run an MLflow client creates uploads too, when the environment names an upload target.
    monkeypatch.setenv("RUNLOG_TRACKING_URI", "http://mlflow.test")
    mlflow.set_tracking_uri(runlog.Workspace(store.parent / "store2").get_mlflow_tracking_uri())
    with mlflow.start_run() as active:
        mlflow.log_metric("acc", 0.5)
    own = runlog.Workspace(store.parent / "store2").get_run(active.info.run_id).mlflow_run_id
    assert own is not None and server.history(own, "acc") == [(0.5, 0)]


# -- mlflow server / mlflow ui on a runlog store -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mlflow_server_serves_a_runlog_store(exp: runlog.Experiment, ws: runlog.Workspace, tmp_path: Path) -> None:
    """`mlflow server --backend-store-uri runlog:///...` starts and answers searches, runs, histories and the
    logged-model and trace searches its UI makes, over runs made by runlog's own API."""
    run = exp.start_logging(outputs=False)
    for step in range(3):
        run.log("loss", 1.0 / (step + 1), step=step)
    run.add_properties({"lr": "0.1"})
    run.complete()
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    server_log = open(tmp_path / "server.log", "wb")  # closed after the server
    server = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", ws.get_mlflow_tracking_uri(), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=server_log, env=env,
    )  # fmt: skip
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.3)
        client = MlflowClient(base)
        assert exp.name in [e.name for e in client.search_experiments()]
        found = client.search_runs([exp.id], filter_string="params.lr = '0.1'")
        assert [r.info.run_id for r in found] == [run.id]
        assert [m.value for m in client.get_metric_history(run.id, "loss")] == [1.0, 0.5, 1 / 3]
        import psutil

        def fds() -> int:
            tree = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
            return sum(p.num_fds() for p in tree)

        before = fds()
        for i in range(30):  # runs made through the server: no descriptor is kept per run
            made = client.create_run(exp.id, run_name=f"via-server-{i}")
            client.log_metric(made.info.run_id, "x", float(i))
            client.set_terminated(made.info.run_id)
        from runlog._store.writer import RETIRE_SECONDS

        time.sleep(RETIRE_SECONDS + 0.5)  # a closed writer's descriptors are closed at a close this much later
        client.set_tag(made.info.run_id, "last", "1")
        assert fds() - before < 15
        assert ws.get_run(made.info.run_id).get_metrics() == {"x": 29.0}
        assert ws.get_run(made.info.run_id).get_status() == "Completed"
        api = f"{base}/api/2.0/mlflow"
        assert httpx.post(f"{api}/logged-models/search", json={"experiment_ids": [exp.id]}).status_code == 200
        assert httpx.get(f"{base}/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": exp.id}).status_code == 200
    finally:
        server.terminate()
        server.wait(30)
        server_log.close()


# -- the example -------------------------------------------------------------------------------------------


def test_mlflow_example_runs(tmp_path: Path) -> None:
    """examples/mlflow_clients.py: a training loop logging through MLflow's API into runlog runs, and a search."""
    env = {**os.environ, "RUNLOG_STORE": str(tmp_path / "store"), "PYTHONWARNINGS": "ignore"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "mlflow_clients.py")], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best run:" in proc.stdout
    runs = list(runlog.Experiment(runlog.Workspace(tmp_path / "store"), "mlflow-sweep").get_runs())
    assert len(runs) == 3
    assert all(r.get_status() == "Completed" and len(r.get_metrics()["val_loss"]) == 5 for r in runs)


@pytest.mark.parametrize("first", ["runlog.mlflow", "runlog", "mlflow"])
def test_the_plugin_works_whichever_module_is_imported_first(tmp_path: Path, first: str) -> None:
    """`import runlog.mlflow` before `import mlflow` once left MLflow a half-imported plugin module
    (a warning, then "unsupported URI 'runlog:...'"): the entry point names runlog._mlflow.store."""
    code = textwrap.dedent(f"""
        import {first}
        import mlflow
        mlflow.set_tracking_uri("runlog://" + {str(tmp_path / "store")!r})
        with mlflow.start_run() as run:
            mlflow.log_metric("loss", 0.5)
        print(run.info.run_id)
    """)
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_id = proc.stdout.strip()
    assert runlog.Workspace(tmp_path / "store").get_run(run_id).get_metrics() == {"loss": 0.5}


def test_the_runlog_scheme_is_served_by_the_class_runlog_mlflow_names(ws: runlog.Workspace) -> None:
    """MLflow's registry (the ``mlflow.tracking_store`` entry point) gives runlog.mlflow.RunlogTrackingStore for
    a ``runlog:`` URI, on the store the URI names."""
    from mlflow.tracking._tracking_service.utils import _get_store

    import runlog.mlflow

    store = _get_store(ws.get_mlflow_tracking_uri())
    assert type(store) is RunlogTrackingStore and store.store == ws.store
    assert runlog.mlflow.__all__ == ["RunlogTrackingStore"]
