"""Script runs: ScriptRunConfig + experiment.submit, captured driver logs, streaming, cancel, multi-process, logs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from _repo import REPO
from click.testing import CliRunner
from job_helpers import log_text, wait_until, write

import runlog
from runlog import ActivityFailedError, Environment, Experiment, PyTorchConfiguration, ScriptRunConfig
from runlog._jobs.processes import pid_alive
from runlog._jobs.submit import rank_log_name
from runlog.cli import main as cli

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


# -- the train-on-local example ----------------------------------------------------------


def test_train_on_local_example(tmp_path: Path, store: Path, ws: runlog.Workspace) -> None:
    """The notebook-like driver submits train.py (a real sklearn ridge sweep): 20 alphas and mses, outputs kept."""
    env = {**os.environ, "RUNLOG_STORE": str(store), "PYTHONPATH": str(REPO), "RUNLOG_UI_URL": "http://127.0.0.1:5050"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples/train-on-local/run_train_on_local.py")],
        cwd=tmp_path / "work", env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"^RunId: train-on-local_\d+_[0-9a-f]{8}$", out, re.M)
    assert re.search(r"^Web View: http://127\.0\.0\.1:5050/#/run/train-on-local_", out, re.M)
    assert "Streaming logs/driver_log.txt\n" + "=" * len("Streaming logs/driver_log.txt") + "\n" in out
    assert re.search(STAMP + r" alpha is 0\.95, and mse is \d+\.\d\d", out)
    assert out.index("Streaming") < out.index("Execution Summary\n=================\nRunId: ")
    assert "20 alphas tried" in out
    (run,) = Experiment(ws, "train-on-local").get_runs()
    assert run.get_status() == "Completed"
    metrics = run.get_metrics()
    assert len(metrics["alpha"]) == 20 and len(metrics["mse"]) == 20
    assert metrics["alpha"][:2] == [0.0, 0.05]
    assert all(isinstance(m, float) and m > 0 for m in metrics["mse"])
    names = run.get_file_names()
    assert "outputs/model.pkl" in names and "outputs/ridge_0.50.pkl" in names
    assert {"snapshot/train.py", "snapshot/mylib.py"} <= set(names)
    assert run.get_tags()["chosen_alpha"] == "0.5"
    assert (tmp_path / "work" / "model.pkl").is_file()
    record = run._record
    assert record["script"] == "train.py" and record["arguments"] == ["--alpha", "0.5"]


# -- capture -------------------------------------------------------------------------------


def test_output_is_captured_at_fd_level_with_timestamps_and_progress_collapsed(
    exp: Experiment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdout, stderr (marked), os.write(1), a subprocess and a \\r progress bar land in the driver log, in order."""
    monkeypatch.setenv("RANK", "5")  # submitting from inside a launched job: the script is no rank
    monkeypatch.setenv("WORLD_SIZE", "8")
    write(Path("capture.py"), """
        import os, subprocess, sys, time
        print("first line")
        os.write(1, b"c-level write\\n")
        subprocess.run([sys.executable, "-c", "print('from a subprocess')"], check=True)
        print("an error line", file=sys.stderr)
        for i in range(2000):
            sys.stdout.write(f"\\rprogress {i + 1}/2000")
        sys.stdout.write("\\n")
        print("env:", os.environ.get("RUNLOG_OUTPUT_CAPTURED"), os.environ.get("MY_VAR"), os.environ.get("RANK"))
        print("no newline at the end", end="")
    """)
    env = Environment("e")
    env.environment_variables = {"MY_VAR": "hello"}
    run = exp.submit(ScriptRunConfig(source_directory=".", script="capture.py", environment=env), show_output=True)
    assert run.get_status() == "Completed"
    lines = log_text(run).splitlines()
    assert all(re.match(STAMP + " ", line) for line in lines)
    texts = [re.sub("^" + STAMP + " ", "", line) for line in lines]
    # stdout and stderr are two pipes: each keeps its order; how they interleave is up to the reader.
    assert [t for t in texts if not t.startswith("[stderr] ")] == [
        "first line",
        "c-level write",
        "from a subprocess",
        "progress 2000/2000",
        "env: 1 hello None",
        "no newline at the end",
    ]
    assert [t for t in texts if t.startswith("[stderr] ")] == ["[stderr] an error line"]
    out = capsys.readouterr().out
    assert "progress 2000/2000" in out and "Execution Summary" in out


# -- failure, cancel -----------------------------------------------------------------------


def test_failing_script_fails_the_run_with_exit_code_and_traceback(exp: Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    """A script raising leaves the run Failed; wait_for_completion raises ActivityFailedError or prints the error."""
    write(Path("fail.py"), """
        print("before")
        def train():
            raise ValueError("boom at epoch 3")
        train()
    """)
    run = exp.submit(ScriptRunConfig(source_directory=".", script="fail.py"))
    with pytest.raises(ActivityFailedError) as info:
        run.wait_for_completion(show_output=True, raise_on_error=True)
    err = info.value
    assert isinstance(err, runlog.RunlogError) and isinstance(err, RuntimeError)
    assert err.run_id == run.id and err.exit_code == 1
    assert "ValueError: boom at epoch 3" in str(err)
    assert run.get_status() == "Failed"
    error = run.get_details()["error"]["error"]
    assert error["exit_code"] == 1
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert error["traceback"].endswith("ValueError: boom at epoch 3")
    assert "[stderr] ValueError: boom at epoch 3" in log_text(run)
    capsys.readouterr()
    details = run.wait_for_completion(show_output=True, raise_on_error=False)
    out = capsys.readouterr().out
    assert details["status"] == "Failed"
    assert "\nError:\n{\n    \"error\": {" in out and "exited with exit code 1" in out
    status = json.loads(log_text(run, "logs/process_status.json"))
    assert status["processes"][0]["exit_code"] == 1 and status["processes"][0]["status"] == "Failed"
    with pytest.raises(runlog.InvalidStatusTransition):  # an ended run cannot be canceled
        runlog.Run(exp, run.id).cancel()
    assert run.get_status() == "Failed"


def test_a_script_ending_its_own_run_does_not_cut_the_wait_short(exp: Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    """A script that fails its own run early (as an exception hook does) still gets its exit code, late lines, outputs."""
    write(Path("selffail.py"), """
        import os, sys, time
        from runlog import Run
        Run.get_context().fail(error_details="failed by the script itself")
        time.sleep(0.5)
        print("late line", flush=True)
        os.makedirs("outputs", exist_ok=True)
        open("outputs/late.txt", "w").write("x")
        sys.exit(2)
    """)
    run = exp.submit(ScriptRunConfig(source_directory=".", script="selffail.py"))
    with pytest.raises(ActivityFailedError) as info:
        run.wait_for_completion(show_output=True)
    assert info.value.exit_code == 2
    assert "late line" in capsys.readouterr().out
    assert "outputs/late.txt" in run.get_file_names()


def test_cancel_stops_the_whole_process_group(exp: Experiment) -> None:
    """run.cancel() stops the script and a process it started, leaves the run Canceled and keeps its log."""
    write(Path("sleepy.py"), """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open("pids.txt.tmp", "w") as fh:
            fh.write(f"{os.getpid()} {child.pid}")
        os.replace("pids.txt.tmp", "pids.txt")
        print("sleeping", flush=True)
        time.sleep(120)
    """)
    run = exp.submit(ScriptRunConfig(source_directory=".", script="sleepy.py"))
    wait_until(lambda: (run.path / "files/logs/process_info.json").exists())
    workdir = Path(json.loads((run.path / "files/logs/process_info.json").read_text())["cwd"])
    wait_until(lambda: (workdir / "pids.txt").exists())
    script_pid, child_pid = map(int, (workdir / "pids.txt").read_text().split())
    assert pid_alive(script_pid) and pid_alive(child_pid)
    run.cancel()
    assert run.get_status() == "Canceled"
    wait_until(lambda: not pid_alive(script_pid) and not pid_alive(child_pid), timeout=15)
    assert "sleeping" in log_text(run)
    status = json.loads(log_text(run, "logs/process_status.json"))
    assert status["processes"][0]["signal"] == "SIGTERM"
    assert runlog.Run(exp, run.id).wait_for_completion()["status"] == "Canceled"
    assert not workdir.exists()  # the working copy is removed when the run ends


def test_ctrl_c_while_streaming_stops_streaming_only(exp: Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    """KeyboardInterrupt during wait_for_completion(show_output=True) returns; the run keeps running."""
    write(Path("slow.py"), """
        import time
        print("working", flush=True)
        time.sleep(60)
    """)
    run = exp.submit(ScriptRunConfig(source_directory=".", script="slow.py"))
    wait_until(lambda: "working" in (log_text(run) if (run.path / "files/logs/driver_log.txt").exists() else ""))
    # A test runner started in the background (`cmd &`) inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: install it for this test, as a terminal would have it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        details = run.wait_for_completion(show_output=True)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    out = capsys.readouterr().out
    assert details["status"] == "Running"
    assert "the run keeps going" in out
    assert run.get_status() == "Running"
    run.cancel()
    assert run.get_status() == "Canceled"


def test_max_run_duration_cancels_the_run(exp: Experiment) -> None:
    """A run longer than max_run_duration_seconds is canceled by its supervisor."""
    write(Path("long.py"), "import time\ntime.sleep(60)\n")
    run = exp.submit(ScriptRunConfig(source_directory=".", script="long.py", max_run_duration_seconds=1))
    assert run.wait_for_completion()["status"] == "Canceled"
    assert "max_run_duration_seconds=1" in log_text(run, "logs/supervisor_log.txt")


# -- multi-process ---------------------------------------------------------------------------


RANK_SCRIPT = """
    import os
    from runlog import Run
    run = Run.get_context()
    rank = int(os.environ["RANK"])
    print(f"rank {rank} of {os.environ['WORLD_SIZE']} local {os.environ['LOCAL_RANK']} "
          f"master {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}", flush=True)
    run.log("rank", rank)
    run.log("loss", 1.0 / (rank + 1))
    os.makedirs("outputs", exist_ok=True)
    open(f"outputs/rank{rank}.txt", "w").write(str(rank))
"""


def test_two_process_job_has_per_rank_logs_and_one_run(exp: Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    """distributed_job_config starts 2 ranks: per-rank driver logs, both ranks' metrics, process records, every rank
    streamed with its rank before each line (issue 15: rank 0 only before)."""
    write(Path("ddp.py"), RANK_SCRIPT)
    config = ScriptRunConfig(source_directory=".", script="ddp.py", distributed_job_config=PyTorchConfiguration(process_count=2))
    run = exp.submit(config)
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "Streaming logs/driver_log_rank_0.txt, logs/driver_log_rank_1.txt (each line prefixed with its rank)" in out
    assert re.search(r"^\[rank 0\] \S+Z rank 0 of 2", out, re.M) and re.search(r"^\[rank 1\] \S+Z rank 1 of 2", out, re.M)
    assert run.get_status() == "Completed"
    rank0, rank1 = log_text(run, "logs/driver_log_rank_0.txt"), log_text(run, "logs/driver_log_rank_1.txt")
    assert "rank 0 of 2 local 0 master 127.0.0.1:" in rank0 and "rank 1 of 2 local 1" in rank1
    assert run.get_metrics()["rank"] == 0 and sorted(run.get_metrics(rank="merged")["rank"]) == [0, 1]  # rank 0 by default (issue 15)
    info = json.loads(log_text(run, "logs/process_info.json"))
    assert [p["rank"] for p in info["processes"]] == [0, 1] and info["world_size"] == 2
    status = json.loads(log_text(run, "logs/process_status.json"))
    assert [(p["rank"], p["exit_code"], p["status"]) for p in status["processes"]] == [(0, 0, "Completed"), (1, 0, "Completed")]
    processes = run._state().extra["process"]
    assert sorted(p["rank"] for p in processes.values()) == [0, 1]
    by_pid = {str(p["pid"]): p["rank"] for p in info["processes"]}
    assert {pid: p["rank"] for pid, p in processes.items()} == by_pid
    assert runlog.get_rank_metrics(run) == {0: {"rank": 0, "loss": 1.0}, 1: {"rank": 1, "loss": 0.5}}
    assert {"outputs/rank0.txt", "outputs/rank1.txt"} <= set(run.get_file_names())
    # Download all: the zip holds the logs, the process records, the snapshot and the outputs.
    runner = CliRunner()
    result = runner.invoke(cli, ["download", run.id, "--zip", "all.zip"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile("all.zip") as zf:
        names = set(zf.namelist())
        assert zf.read("outputs/rank1.txt") == b"1"
    assert {
        "logs/driver_log_rank_0.txt", "logs/driver_log_rank_1.txt", "logs/process_info.json",
        "logs/process_status.json", "logs/supervisor_log.txt", "snapshot/ddp.py", "outputs/rank0.txt",
    } <= names
    # One file by name, all logs, and the details with logs.
    result = runner.invoke(cli, ["download", run.id, "--name", "logs/driver_log_rank_1.txt", "-o", "one"])
    assert result.exit_code == 0 and "rank 1 of 2" in Path("one/logs/driver_log_rank_1.txt").read_text()
    paths = run.get_all_logs(destination="all-logs")
    assert {Path(p).name for p in paths} >= {"driver_log_rank_0.txt", "driver_log_rank_1.txt", "process_status.json"}
    assert "rank 1 of 2" in run.get_details_with_logs()["logFiles"]["logs/driver_log_rank_1.txt"]


def test_a_failing_rank_fails_the_job_and_stops_the_others(exp: Experiment) -> None:
    """When one rank fails, the job fails with that rank's exit code and the other rank is stopped."""
    write(Path("ddp_fail.py"), """
        import os, sys, time
        if os.environ["RANK"] == "1":
            sys.exit(7)
        time.sleep(60)
    """)
    run = exp.submit(ScriptRunConfig(source_directory=".", script="ddp_fail.py", distributed_job_config=PyTorchConfiguration(process_count=2)))
    with pytest.raises(ActivityFailedError) as info:
        run.wait_for_completion()
    assert info.value.exit_code == 7
    assert run.get_details()["error"]["error"]["rank"] == 1
    status = {p["rank"]: p for p in json.loads(log_text(run, "logs/process_status.json"))["processes"]}
    assert status[1]["exit_code"] == 7 and status[0]["signal"] == "SIGTERM"


def test_ranks_started_by_torchrun_share_one_run(tmp_path: Path, store: Path, ws: runlog.Workspace) -> None:
    """Ranks with torchrun's variables and no RUNLOG_RUN_ID meet in one run; it completes when both exit."""
    work = tmp_path / "work"
    write(work / "ddp.py", RANK_SCRIPT)
    write(work / "launch.py", """
        import os, subprocess, sys
        procs = []
        for rank in range(2):
            env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                       MASTER_PORT="29500", TORCHELASTIC_RUN_ID="none")
            procs.append(subprocess.Popen([sys.executable, "ddp.py"], env=env))
        sys.exit(max(p.wait() for p in procs))
    """)
    env = {**os.environ, "RUNLOG_STORE": str(store), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "launch.py"], cwd=work, env=env, check=True, timeout=60)
    (run,) = Experiment(ws, "ddp").get_runs()
    assert run.get_status() == "Completed"
    assert run.get_metrics()["rank"] == 0 and sorted(run.get_metrics(rank="merged")["rank"]) == [0, 1]  # rank 0 by default (issue 15)
    assert sorted(p["rank"] for p in run._state().extra["process"].values()) == [0, 1]
    assert sorted(run._state().extra["rank_end"]) == ["0", "1"]
    assert runlog.get_rank_metrics(run) == {0: {"rank": 0, "loss": 1.0}, 1: {"rank": 1, "loss": 0.5}}


def test_waiting_on_a_torchrun_run_whose_ranks_were_all_killed_fails_it(tmp_path: Path, store: Path, ws: runlog.Workspace) -> None:
    """Both ranks of a torchrun-style job are killed (SIGKILL) before ending their run: a waiter does not
    wait forever, it marks the run Failed (ProcessLost) and raises, and what the ranks logged is kept."""
    work = tmp_path / "work"
    write(work / "ddp_hang.py", """
        import os, time
        from runlog import Run
        run = Run.get_context()
        run.log("rank", int(os.environ["RANK"]))
        print("logged", flush=True)
        time.sleep(120)
    """)
    write(work / "launch.py", """
        import os, signal, subprocess, sys
        procs = []
        for rank in range(2):
            env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                       MASTER_PORT="29501", TORCHELASTIC_RUN_ID="killed")
            procs.append(subprocess.Popen([sys.executable, "ddp_hang.py"], env=env, stdout=subprocess.PIPE, text=True))
        for p in procs:
            p.stdout.readline()  # the rank has joined the run and logged
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
    """)
    env = {**os.environ, "RUNLOG_STORE": str(store), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "launch.py"], cwd=work, env=env, check=True, timeout=60)
    (run,) = Experiment(ws, "ddp_hang").get_runs()
    assert run.get_status() == "Running"
    with pytest.raises(ActivityFailedError, match="ended without ending the run"):
        run.wait_for_completion()
    assert run.get_status() == "Failed"
    assert run.get_details()["error"]["error"]["code"] == "ProcessLost"
    assert run.get_metrics()["rank"] == 0 and sorted(run.get_metrics(rank="merged")["rank"]) == [0, 1]  # rank 0 by default (issue 15)


def test_a_torchrun_run_whose_only_runlog_rank_ended_cleanly_completes(
    tmp_path: Path, store: Path, ws: runlog.Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WORLD_SIZE=2 but only rank 0 uses runlog, and it exits cleanly: once the time to join is over, a waiter
    completes the run (every rank that joined ended well) instead of failing it or waiting forever."""
    import runlog._jobs.distributed as distributed

    work = tmp_path / "work"
    write(work / "rank0_only.py", """
        import os
        from runlog import Run
        Run.get_context().log("rank", int(os.environ["RANK"]))
    """)
    env = {**os.environ, "RUNLOG_STORE": str(store), "PYTHONPATH": str(REPO), "RANK": "0", "LOCAL_RANK": "0",
           "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29502", "TORCHELASTIC_RUN_ID": "solo"}
    subprocess.run([sys.executable, "rank0_only.py"], cwd=work, env=env, check=True, timeout=60)
    (run,) = Experiment(ws, "rank0_only").get_runs()
    assert run.get_status() == "Running"  # one of two ranks ended: not yet complete
    monkeypatch.setattr(distributed, "RENDEZVOUS_TIMEOUT", 0.0)  # the time for rank 1 to join is over
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.get_metrics() == {"rank": 0}


# -- the CLI ------------------------------------------------------------------------------------


def test_cli_submit_exits_with_the_scripts_status(tmp_path: Path, store: Path, ws: runlog.Workspace) -> None:
    """`runlog submit script -- args` streams the log and exits with the script's exit status."""
    work = tmp_path / "work"
    write(work / "exit3.py", """
        import sys
        print("args:", sys.argv[1:])
        sys.exit(3)
    """)
    env = {**os.environ, "RUNLOG_STORE": str(store), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "runlog.cli", "submit", "exit3.py", "--experiment", "cli-exp", "--", "--alpha", "0.5"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Streaming logs/driver_log.txt" in proc.stdout and "args: ['--alpha', '0.5']" in proc.stdout
    assert "\nError:\n" in proc.stdout
    (run,) = Experiment(ws, "cli-exp").get_runs()
    assert run.get_status() == "Failed"


def test_ctrl_c_in_the_terminal_stops_runlog_submit_but_not_the_run(tmp_path: Path, store: Path, ws: runlog.Workspace) -> None:
    """SIGINT to the terminal's process group ends `runlog submit` (130); the detached run keeps running."""
    work = tmp_path / "work"
    write(work / "slow.py", """
        import time
        print("working", flush=True)
        time.sleep(60)
    """)
    env = {**os.environ, "RUNLOG_STORE": str(store), "PYTHONPATH": str(REPO)}
    # The child must start with SIGINT at its default, as under a terminal: a test runner started
    # in the background (`cmd &`) has it ignored, and an ignored SIGINT is inherited.
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runlog.cli", "submit", "slow.py"],
            cwd=work, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    with proc:  # closes the pipe even when an assertion fails
        assert proc.stdout is not None
        for line in proc.stdout:  # streaming has reached the script's first line
            if "working" in line:
                break
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        rest = proc.stdout.read()
        assert proc.wait(timeout=30) == 130, rest
    assert "the run keeps going" in rest
    (run,) = Experiment(ws, "slow").get_runs()
    assert run.get_status() == "Running"
    run.cancel()
    assert run.get_status() == "Canceled"


def test_cli_submit_no_stream_then_logs_follow(store: Path, ws: runlog.Workspace) -> None:
    """`runlog submit --no-stream --nproc 2` prints the run id at once; `runlog logs RUN --follow` prints rank 0's log."""
    write(Path("ddp.py"), RANK_SCRIPT)
    runner = CliRunner()
    result = runner.invoke(cli, ["submit", "ddp.py", "--no-stream", "--nproc", "2", "--tag", "team=ml"])
    assert result.exit_code == 0, result.output
    run_id = result.output.strip()
    run = ws.get_run(run_id)
    assert run.get_tags() == {"team": "ml"} and run.experiment.name == "ddp"
    result = runner.invoke(cli, ["logs", run_id, "--follow"])
    assert result.exit_code == 0, result.output
    assert "rank 0 of 2" in result.output and "rank 1 of 2" not in result.output
    assert run.get_status() == "Completed"
    result = runner.invoke(cli, ["logs", run_id])
    assert "rank 1 of 2" in result.output and "process_info" not in result.output


def test_cli_submit_reports_bad_input() -> None:
    """A missing script is a usage error naming the file."""
    result = CliRunner().invoke(cli, ["submit", "nope.py"])
    assert result.exit_code == 2 and "nope.py" in result.output


# -- configuration and snapshot -----------------------------------------------------------------


def test_conda_docker_and_remote_configurations_are_refused_clearly(exp: Experiment) -> None:
    """Conda, Docker, remote compute and multi-node configurations raise UnsupportedConfigurationError with a fix."""
    with pytest.raises(runlog.UnsupportedConfigurationError, match="interpreter_path"):
        Environment.from_conda_specification("env", "environment.yml")
    env = Environment("docker-env")
    env.docker.enabled = True
    write(Path("train.py"), "print('hi')\n")
    with pytest.raises(runlog.UnsupportedConfigurationError, match="inside the container"):
        exp.submit(ScriptRunConfig(source_directory=".", script="train.py", environment=env))
    conda = Environment("conda-env")
    conda.python.conda_dependencies = object()
    with pytest.raises(NotImplementedError, match="conda env create"):
        exp.submit(ScriptRunConfig(source_directory=".", script="train.py", environment=conda))
    with pytest.raises(runlog.UnsupportedConfigurationError, match="compute_target"):
        ScriptRunConfig(source_directory=".", script="train.py", compute_target="gpu-cluster")
    with pytest.raises(runlog.UnsupportedConfigurationError, match="node_count"):
        exp.submit(ScriptRunConfig(".", "train.py", distributed_job_config=PyTorchConfiguration(node_count=2)))
    bad = Environment("bad")
    bad.python.interpreter_path = "/no/such/python"
    with pytest.raises(FileNotFoundError, match="interpreter_path"):
        exp.submit(ScriptRunConfig(source_directory=".", script="train.py", environment=bad))
    with pytest.raises(FileNotFoundError, match="missing.py"):
        exp.submit(ScriptRunConfig(source_directory=".", script="missing.py"))
    with pytest.raises(ValueError, match="not both"):
        ScriptRunConfig(source_directory=".", script="train.py", command=["ls"])
    assert list(exp.get_runs()) == []


def test_command_run_config_and_a_store_inside_the_source_directory() -> None:
    """command= runs in the working copy with run_config's variables; a store inside the source folder is not snapshotted."""
    write(Path("show.py"), "import os, sys\nprint('exe', sys.executable, os.environ['FROM_RUN_CONFIG'])\n")
    exp = Experiment(runlog.Workspace("runlog-store"), "inner")  # the default store: ./runlog-store
    env = Environment("explicit")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    run_config = runlog.RunConfiguration()
    run_config.environment = env
    run_config.environment_variables = {"FROM_RUN_CONFIG": "yes"}
    src = ScriptRunConfig(source_directory="./", command=f"{sys.executable} show.py && echo shell-ok", run_config=run_config)
    assert src.environment is env
    run = exp.submit(src)
    assert run.wait_for_completion()["status"] == "Completed"
    text = log_text(run)
    assert f"exe {sys.executable} yes" in text and "shell-ok" in text
    assert [n for n in run.get_file_names() if n.startswith("snapshot/")] == ["snapshot/show.py"]


def test_interpreter_path_picks_the_interpreter(tmp_path: Path, exp: Experiment) -> None:
    """python.interpreter_path runs the script with that interpreter (default: the one running submit)."""
    other = tmp_path / "bin" / "other-python"
    other.parent.mkdir()
    other.symlink_to(sys.executable)
    write(Path("which.py"), "import sys\nprint('exe', sys.executable)\n")
    env = Environment("other")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = str(other)
    run = exp.submit(ScriptRunConfig(source_directory=".", script="which.py", environment=env))
    assert run.wait_for_completion()["status"] == "Completed"
    assert f"exe {other}" in log_text(run)
    assert run._record["interpreter"] == str(other)
    default = exp.submit(ScriptRunConfig(source_directory=".", script="which.py"))
    assert default._record["interpreter"] == sys.executable
    default.wait_for_completion()


def test_submit_refuses_a_run_id_outside_the_experiment_before_creating_anything(exp: Experiment, store: Path) -> None:
    """submit(run_id='..') raises the run-id error and creates no folder or supervisor log outside the run."""
    write(Path("ok.py"), "print('hi')\n")
    before = sorted(str(p.relative_to(store)) for p in store.rglob("*"))
    with pytest.raises(ValueError, match="run id may contain only"):
        exp.submit(ScriptRunConfig(source_directory=".", script="ok.py"), run_id="..")
    assert sorted(str(p.relative_to(store)) for p in store.rglob("*")) == before


def test_max_run_duration_applies_to_a_script_that_closed_its_output(exp: Experiment) -> None:
    """A script that closed stdout and stderr (the capture has nothing left to read) is still stopped at max_run_duration_seconds."""
    write(Path("quiet.py"), "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(30)\n")
    run = exp.submit(ScriptRunConfig(source_directory=".", script="quiet.py", max_run_duration_seconds=1))
    assert run.wait_for_completion()["status"] == "Canceled"
    assert "max_run_duration_seconds=1" in log_text(run, "logs/supervisor_log.txt")


def test_a_script_killed_by_a_realtime_signal_fails_with_its_exit_code(exp: Experiment) -> None:
    """A signal without a name in Python's Signals enum (SIGRTMIN+1) still gives exit code 128+N and process_status.json."""
    write(Path("rt.py"), "import os, signal\nos.kill(os.getpid(), signal.SIGRTMIN + 1)\n")
    run = exp.submit(ScriptRunConfig(source_directory=".", script="rt.py"))
    with pytest.raises(ActivityFailedError) as info:
        run.wait_for_completion()
    expected = 128 + signal.SIGRTMIN + 1
    assert info.value.exit_code == expected
    assert run.get_details()["error"]["error"]["code"] == "UserError"
    status = json.loads(log_text(run, "logs/process_status.json"))
    assert status["processes"][0]["exit_code"] == expected


def test_a_script_that_completed_its_run_but_exits_non_zero_fails_it(exp: Experiment) -> None:
    """The script's exit status decides a submitted run's end, even after the script called run.complete() itself."""
    write(Path("done_then_fail.py"), """
        import os, sys
        from runlog import Run
        os.makedirs("outputs", exist_ok=True)
        open("outputs/model.txt", "w").write("x")
        Run.get_context().complete()
        sys.exit(3)
    """)
    run = exp.submit(ScriptRunConfig(source_directory=".", script="done_then_fail.py"))
    with pytest.raises(ActivityFailedError) as info:
        run.wait_for_completion()
    assert info.value.exit_code == 3
    assert run.get_details()["error"]["error"]["code"] == "UserError"
    assert "outputs/model.txt" in run.get_file_names()


def test_rank_log_name_gives_each_rank_its_log_and_a_single_process_the_driver_log() -> None:
    """The processes the supervisor starts are main processes (their output is captured): never a pid-named log."""
    assert rank_log_name(None, 1) == "logs/driver_log.txt"
    assert rank_log_name(0, 1) == "logs/driver_log.txt"
    assert [rank_log_name(r, 3) for r in range(3)] == [f"logs/driver_log_rank_{r}.txt" for r in range(3)]
