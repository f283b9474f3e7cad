"""Tests of runlog._jobs.supervisor: the detached process that runs a submitted script and ends its run."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from job_helpers import write

import runlog
from runlog import Experiment
from runlog._jobs import supervisor as _supervisor
from runlog._jobs.supervisor import Supervisor


@pytest.fixture()
def signals_restored() -> Iterator[None]:
    """main() installs handlers for SIGTERM, SIGINT and SIGHUP: put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def _spec(exp: runlog.Experiment, store: Path, workdir: Path, run: runlog.Run, **overrides: Any) -> dict[str, Any]:
    spec = {
        "store": str(store), "tracking_uri": None, "experiment": exp.name, "run_id": run.id,
        "argv": [sys.executable, "-u", "job.py"], "workdir": str(workdir), "source_directory": str(workdir.parent),
        "nproc": 1, "distributed": False, "env": {}, "max_run_duration_seconds": None, "mpi": False,
    }  # fmt: skip
    spec.update(overrides)
    return spec


def _main(monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any] | None) -> int:
    raw = json.dumps(spec).encode() if spec is not None else b""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    return _supervisor.main()


def _job(tmp_path: Path, code: str) -> Path:
    workdir = tmp_path / "wd"
    workdir.mkdir()
    (workdir / "job.py").write_text(textwrap.dedent(code))
    return workdir


@pytest.mark.parametrize(
    ("code", "exit_code", "described"),
    [
        (0, 0, "exit code 0"),
        (3, 3, "exit code 3"),
        (-9, 137, "exit code 137 (killed by SIGKILL)"),
        (-(signal.SIGRTMIN + 1), 128 + signal.SIGRTMIN + 1, f"(killed by signal {signal.SIGRTMIN + 1})"),
        (None, None, "no exit code"),
    ],
)
def test_exit_codes_are_shells_and_signals_are_named(code: int | None, exit_code: int | None, described: str) -> None:
    assert _supervisor._exit_code(code) == exit_code
    assert _supervisor._describe_exit(code).endswith(described)


def test_no_spec_on_stdin_is_nothing_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _main(monkeypatch, None) == 0


def test_a_failing_script_fails_the_run_with_its_exit_code_and_traceback(
    exp: runlog.Experiment, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signals_restored: None
) -> None:
    workdir = _job(tmp_path, "print('working')\nraise KeyError('missing column')\n")
    run = runlog.Run._create(exp, run_type="script", status="Queued")
    assert _main(monkeypatch, _spec(exp, store, workdir, run)) == 0
    assert not workdir.exists()  # the working copy is removed when the run ends
    ended = runlog.Run(exp, run.id)
    assert ended.get_status() == "Failed"
    error = ended.get_details()["error"]["error"]
    assert (error["code"], error["exit_code"], error["driver_log"]) == ("UserError", 1, "logs/driver_log.txt")
    assert error["traceback"].startswith("Traceback") and error["traceback"].endswith("KeyError: 'missing column'")
    log = (ended.path / "files" / "logs" / "driver_log.txt").read_text()
    assert "Z working\n" in log and "Z [stderr] KeyError: 'missing column'\n" in log
    status = json.loads((ended.path / "files" / "logs" / "process_status.json").read_text())
    assert [(p["rank"], p["status"], p["exit_code"]) for p in status["processes"]] == [(None, "Failed", 1)]


def test_every_rank_exiting_0_completes_the_run_and_each_has_its_log(
    exp: runlog.Experiment, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signals_restored: None
) -> None:
    workdir = _job(tmp_path, "import os\nprint('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])\n")
    run = runlog.Run._create(exp, run_type="script", status="Queued")
    assert _main(monkeypatch, _spec(exp, store, workdir, run, nproc=2, distributed=True)) == 0
    ended = runlog.Run(exp, run.id)
    assert ended.get_status() == "Completed"
    for rank in (0, 1):
        assert f"Z rank {rank} of 2\n" in (ended.path / "files" / "logs" / f"driver_log_rank_{rank}.txt").read_text()
    info = json.loads((ended.path / "files" / "logs" / "process_info.json").read_text())
    assert [p["rank"] for p in info["processes"]] == [0, 1] and info["master_addr"] == "127.0.0.1"


def test_a_run_canceled_before_it_started_runs_nothing(
    exp: runlog.Experiment, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signals_restored: None
) -> None:
    workdir = _job(tmp_path, "open('ran', 'w').close()\n")
    run = runlog.Run._create(exp, run_type="script", status="Queued")
    run._set_status("CancelRequested")
    assert _main(monkeypatch, _spec(exp, store, workdir, run)) == 0
    ended = runlog.Run(exp, run.id)
    assert ended.get_status() == "Canceled"
    assert (
        "the run was canceled before it started" in (ended.path / "files" / "logs" / "supervisor_log.txt").read_text()
    )


def test_the_environment_drops_a_launchers_variables_and_sets_each_ranks(
    exp: runlog.Experiment, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "5")  # submitting from inside a torchrun job
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "outer")
    run = runlog.Run._create(exp, run_type="script", status="Queued")
    sup = Supervisor(_spec(exp, store, tmp_path, run, env={"MY_VAR": "1"}, mpi=True))
    single = sup.environment(None, 1, 0)
    assert "RANK" not in single and "TORCHELASTIC_RUN_ID" not in single
    assert (single["RUNLOG_RUN_ID"], single["RUNLOG_OUTPUT_CAPTURED"], single["MY_VAR"]) == (run.id, "1", "1")
    rank = sup.environment(1, 2, 29500)
    assert (rank["RANK"], rank["WORLD_SIZE"], rank["MASTER_PORT"], rank["TORCHELASTIC_RUN_ID"]) == (
        "1",
        "2",
        "29500",
        run.id,
    )
    assert (rank["OMPI_COMM_WORLD_RANK"], rank["OMPI_COMM_WORLD_SIZE"]) == ("1", "2")


def test_a_script_that_cannot_start_fails_the_run(
    exp: runlog.Experiment, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signals_restored: None
) -> None:
    run = runlog.Run._create(exp, run_type="script", status="Queued")
    spec = _spec(exp, store, _job(tmp_path, ""), run, argv=[str(tmp_path / "no-such-interpreter"), "-u", "job.py"])
    assert _main(monkeypatch, spec) == 1
    ended = runlog.Run(exp, run.id)
    assert ended.get_status() == "Failed"
    assert "could not start" in ended.get_details()["error"]["error"]["message"]


def test_a_process_left_running_by_the_script_is_stopped(
    exp: runlog.Experiment, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signals_restored: None
) -> None:
    monkeypatch.setattr(_supervisor, "STRAGGLER_SECONDS", 0.05)
    pidfile = tmp_path / "daemon.pid"
    workdir = _job(
        tmp_path,
        f"""
        import subprocess, sys
        daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pidfile)!r}, "w").write(str(daemon.pid))
        """,
    )
    run = runlog.Run._create(exp, run_type="script", status="Queued")
    assert _main(monkeypatch, _spec(exp, store, workdir, run)) == 0
    assert runlog.Run(exp, run.id).get_status() == "Completed"
    pid = int(pidfile.read_text())
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_bytes().rsplit(b")", 1)[1].split()[0] == b"Z"


def test_a_launch_failing_half_way_stops_the_processes_already_started(
    exp: Experiment, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If starting rank 1 fails (e.g. too many open files), rank 0, already running, is stopped and the run fails."""
    write(tmp_path / "wd" / "w.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    run = runlog.Run._create(exp, run_type="script", status="Queued")
    spec = {
        "store": str(store), "tracking_uri": None, "experiment": exp.name, "run_id": run.id,
        "argv": [sys.executable, "-u", "w.py"], "workdir": str(tmp_path / "wd"), "source_directory": str(tmp_path),
        "nproc": 2, "distributed": True, "env": {}, "max_run_duration_seconds": None, "mpi": False,
    }  # fmt: skip
    real_popen = subprocess.Popen
    started: list[subprocess.Popen[bytes]] = []

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        if started:
            raise OSError(24, "Too many open files")
        started.append(real_popen(*args, **kwargs))  # type: ignore[call-overload]
        assert started[0].stdout is not None
        started[0].stdout.readline()  # rank 0 runs
        return started[0]

    monkeypatch.setattr(_supervisor.subprocess, "Popen", popen)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(spec).encode())))
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        assert _supervisor.main() == 1
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    try:
        started[0].wait(timeout=20)  # stopped by the supervisor, not left running after the run failed
    finally:
        started[0].kill()
        started[0].wait()
        for pipe in (started[0].stdout, started[0].stderr):
            if pipe is not None:
                pipe.close()
    assert started[0].returncode == -signal.SIGKILL
    assert runlog.Run(exp, run.id).get_status() == "Failed"
