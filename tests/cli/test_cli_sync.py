"""runlog.cli.sync: `runlog sync`, against an in-memory MLflow server and a real OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _fake_mlflow import FakeMlflow
from click.testing import CliRunner
from otlp_receiver import Receiver
from upload_helpers import offline_run

import runlog
from runlog._upload import make_target
from runlog._upload import mlflow as mlflow_target
from runlog._upload._state import UploadLock
from runlog._upload.otlp import OtlpTarget
from runlog.cli import main
from runlog.cli.sync import sync

URI = "http://mlflow.test"


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    """A running OTLP receiver on a free port of 127.0.0.1, stopped after the test."""
    r = Receiver().start()
    yield r
    r.stop()


def test_make_target_and_sync_command(exp: runlog.Experiment, receiver: Receiver, store: Path) -> None:
    """`otlp+http://...` tracking URIs make an OtlpTarget; `runlog sync --tracking-uri` ships a run with it."""
    assert isinstance(make_target(f"otlp+{receiver.url}"), OtlpTarget)
    run = exp.start_logging()
    run.log("x", 2.5)
    run._writer.write_log("from sync\n")
    run.complete()
    result = CliRunner().invoke(main, ["sync", run.id, "--store", str(store), "--tracking-uri", f"otlp+{receiver.url}"])
    assert result.exit_code == 0, result.output
    assert f"-> {receiver.url}" in result.output and "MLflow" not in result.output
    assert [p["value"] for p in receiver.points] == [2.5]
    assert "from sync" in [r["body"] for r in receiver.logs]


def test_sync_all_holds_one_target_open_at_a_time(
    exp: runlog.Experiment, receiver: Receiver, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`runlog sync --all` over many runs opens one target (one connection) at a time, closing each before the next."""
    import runlog.cli.sync as sync_cli

    for i in range(6):
        run = exp.start_logging()
        run.log("x", float(i))
        run.complete()
    open_now: list[object] = []
    most = 0

    def counting_target(uri: str, options: Any = None) -> Any:
        nonlocal most
        target = make_target(uri, options)
        close = target.close
        open_now.append(target)
        most = max(most, len(open_now))

        def closing() -> None:
            open_now.remove(target)
            close()

        target.close = closing  # type: ignore[method-assign]
        return target

    monkeypatch.setattr(sync_cli, "make_target", counting_target)
    result = CliRunner().invoke(
        main, ["sync", "--all", "--store", str(store), "--tracking-uri", f"otlp+{receiver.url}"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p["value"] for p in receiver.points) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert most == 1 and open_now == []


def test_sync_all_goes_on_past_a_run_removed_while_it_runs(
    exp: runlog.Experiment, receiver: Receiver, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run removed between `runlog sync --all`'s measuring pass and its turn is reported "not synced";
    the other runs are still sent, and the command fails at the end so a script notices."""
    import shutil

    import runlog.cli.sync as sync_cli

    runs = []
    for i in range(2):
        run = exp.start_logging()
        run.log("x", float(i))
        run.complete()
        runs.append(run)
    calls = 0

    def removing_target(uri: str, options: Any = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:  # the first run's turn in the sending pass: it is gone by now
            shutil.rmtree(runs[0].path)
        return make_target(uri, options)

    monkeypatch.setattr(sync_cli, "make_target", removing_target)
    result = CliRunner().invoke(
        main, ["sync", "--all", "--store", str(store), "--tracking-uri", f"otlp+{receiver.url}"]
    )
    assert result.exit_code != 0 and "not synced" in result.output
    assert [p["value"] for p in receiver.points] == [1.0]


def test_cli_sync_is_idempotent_and_reports(exp: runlog.Experiment, fake: FakeMlflow, store: Path) -> None:
    """`runlog sync RUN` sends once; a second `runlog sync --all` says up to date and sends nothing."""
    run = offline_run(exp)
    run.log("a", 1.0)
    run.complete()
    first = CliRunner().invoke(main, ["sync", run.id, "--tracking-uri", URI])
    assert first.exit_code == 0, first.output
    assert "1 metric event(s)" in first.output
    count = len(fake.requests)
    second = CliRunner().invoke(main, ["sync", "--all", "--tracking-uri", URI])
    assert second.exit_code == 0 and "up to date" in second.output, second.output
    assert len(fake.requests) == count


def test_cli_sync_errors_name_the_fix(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """No runs named, no tracking URI, or an unknown run: a usage error that says what to do."""
    runner = CliRunner()
    assert "--all" in runner.invoke(main, ["sync", "--tracking-uri", URI]).output
    run = offline_run(exp)
    no_uri = runner.invoke(main, ["sync", run.id])
    assert no_uri.exit_code == 2 and "RUNLOG_TRACKING_URI" in no_uri.output
    unknown = runner.invoke(main, ["sync", "nope", "--tracking-uri", URI])
    assert unknown.exit_code == 1 and "nope" in unknown.output


def test_cli_sync_takes_a_prefix_or_latest(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """`runlog sync` resolves RUN as every command does: `latest` or a unique prefix of an id (issue 15)."""
    run = offline_run(exp)
    run.log("a", 1.0)
    run.complete()
    latest = CliRunner().invoke(main, ["sync", "latest", "--tracking-uri", URI])
    assert latest.exit_code == 0 and "1 metric event(s)" in latest.output, latest.output
    again = CliRunner().invoke(main, ["sync", run.id[:-3], "--tracking-uri", URI])
    assert again.exit_code == 0 and "up to date" in again.output, again.output


def test_cli_sync_reports_a_run_it_could_not_finish(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """A server that stays down: sync gives up after --timeout, exit code 1, nothing lost locally."""
    fake.faults.append(lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)))
    run = offline_run(exp)
    run.log("a", 1.0)
    result = CliRunner().invoke(main, ["sync", run.id, "--tracking-uri", URI, "--timeout", "0.3"])
    assert result.exit_code == 1 and "not synced" in result.output, result.output


def test_cli_sync_prints_server_messages_as_text(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """A server message with brackets (`[/red]`) is printed as is, not taken for console markup (which crashed sync)."""
    fake.fail_next(httpx.Response(401, json={"error_code": "UNAUTHENTICATED", "message": "token [/red] refused"}))
    run = offline_run(exp)
    run.log("a", 1.0)
    result = CliRunner().invoke(main, ["sync", run.id, "--tracking-uri", URI, "--timeout", "5"])
    assert result.exit_code == 1 and "not synced" in result.output, (result.output, result.exception)
    assert "token [/red] refused" in result.output


def test_a_run_another_process_is_uploading_is_skipped(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    """The run's upload lock is held (a live uploader elsewhere): sync says so, sends nothing, and does not fail."""
    run = offline_run(exp)
    run.log("a", 1.0)
    run.complete()
    lock = UploadLock(run.path / "upload" / f"{mlflow_target.target_name(URI)}.lock")
    assert lock.acquire()
    try:
        result = CliRunner().invoke(sync, [run.id, "--tracking-uri", URI])
    finally:
        lock.release()
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "another process" in result.output
    assert fake.requests == []


def test_a_refused_point_is_reported_with_where_it_is_kept(exp: runlog.Experiment, fake: FakeMlflow) -> None:
    run = offline_run(exp)
    run.log("a", 1.0)
    run.complete()
    fake.fail_next(
        httpx.Response(400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}), when="log-batch"
    )
    result = CliRunner().invoke(sync, [run.id, "--tracking-uri", URI])
    assert result.exit_code == 0, result.output
    assert "1 refused (see upload/*.dead.jsonl)" in result.output
    (dead,) = (run.path / "upload").glob("*.dead.jsonl")
    assert len(dead.read_text().splitlines()) == 1
