"""Tests of runlog._jobs.stream: waiting for a run and following its driver logs, from any process."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from job_helpers import INTERLEAVED, log_text, wait_until, write

import runlog
from runlog import ActivityFailedError, Experiment, ScriptRunConfig
from runlog._jobs.processes import pid_alive
from runlog._jobs.stream import LogTail, follow, interleave_ranks, main_log_name, rank_logs, wait_for_completion

RANK0 = "2026-01-01T00:00:01.000Z start 0\n2026-01-01T00:00:03.000Z step 0\n"
RANK1 = "2026-01-01T00:00:02.000Z start 1\nno time here\n2026-01-01T00:00:04.000Z step 1\n"


def _logs(run: runlog.Run, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = run.path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _ended_run(exp: Experiment, files: dict[str, str] | None = None, **record: object) -> runlog.Run:
    """A run of another process (not this one's to end), its logs written, already Completed."""
    run = runlog.Run._create(exp, run_type="script", extra=record or None)
    _logs(run, files or {})
    run.complete()
    return runlog.Run(exp, run.id)


def test_main_log_name_prefers_the_record_then_the_driver_log_then_rank_0(exp: Experiment) -> None:
    run = runlog.Run._create(exp, run_type="script")
    assert main_log_name(run) == "logs/driver_log.txt"  # nothing written yet
    _logs(run, {"logs/driver_log_rank_0.txt": "r0\n"})
    assert main_log_name(run) == "logs/driver_log_rank_0.txt"
    _logs(run, {"logs/driver_log.txt": "main\n"})
    assert main_log_name(run) == "logs/driver_log.txt"
    named = runlog.Run._create(exp, run_type="script", extra={"driver_log": "logs/custom.txt"})
    assert main_log_name(named) == "logs/custom.txt"


def test_rank_logs_lists_the_planned_ranks_and_the_files_there(exp: Experiment) -> None:
    single = runlog.Run._create(exp, run_type="script")
    _logs(single, {"logs/driver_log.txt": "x\n"})
    assert rank_logs(single) == {}
    planned = runlog.Run._create(exp, run_type="script", extra={"process_count": 2})
    _logs(planned, {"logs/driver_log_rank_3.txt": "late joiner\n", "logs/driver_log_rank_x.txt": "not a rank\n"})
    assert rank_logs(planned) == {r: f"logs/driver_log_rank_{r}.txt" for r in (0, 1, 3)}


def test_log_tail_gives_whole_lines_and_the_rest_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    tail = LogTail(path)
    assert tail.read_lines() == [] and not tail.exists()
    path.write_bytes(b"one\ntw")
    assert tail.read_lines() == ["one"]
    with path.open("ab") as fh:
        fh.write(b"o\nthr")
    assert tail.read_lines() == ["two"]
    assert tail.read_lines(final=True) == ["thr"]
    tail.close()


def test_following_an_ended_runs_ranks_interleaves_them(exp: Experiment) -> None:
    run = _ended_run(exp, {"logs/driver_log_rank_0.txt": RANK0, "logs/driver_log_rank_1.txt": RANK1})
    out = io.StringIO()
    assert follow(run, out=out, all_ranks=True) == "Completed"
    assert out.getvalue().splitlines() == INTERLEAVED
    out = io.StringIO()
    assert follow(run, "logs/driver_log_rank_1.txt", out, header=True) == "Completed"
    assert out.getvalue() == "\nStreaming logs/driver_log_rank_1.txt\n" + "=" * 36 + "\n\n" + RANK1


def test_waiting_for_a_run_this_process_started_is_refused(exp: Experiment) -> None:
    run = exp.start_logging()
    with pytest.raises(RuntimeError, match="would wait forever"):
        wait_for_completion(run)


def test_waiting_shows_the_output_and_a_summary(exp: Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    run = _ended_run(exp, {"logs/driver_log.txt": "hello\n"})
    details = wait_for_completion(run, show_output=True)
    assert details["status"] == "Completed" and run._finished
    out = capsys.readouterr().out
    assert out.startswith(f"RunId: {run.id}\nWeb View: ")
    assert "Streaming logs/driver_log.txt" in out and "\nhello\n" in out
    assert out.endswith(
        f"Execution Summary\n=================\nRunId: {run.id}\nWeb View: {runlog._model.html.viewer_url(run.id)}\n\n"
    )


def test_a_failed_run_raises_or_prints_its_error(exp: Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    run = runlog.Run._create(exp, run_type="script")
    run.fail(error_details={"code": "UserError", "message": "exit code 3", "exit_code": 3})
    with pytest.raises(ActivityFailedError, match="exit code 3") as info:
        wait_for_completion(runlog.Run(exp, run.id))
    assert (info.value.run_id, info.value.exit_code) == (run.id, 3)
    details = wait_for_completion(runlog.Run(exp, run.id), show_output=True, raise_on_error=False)
    assert details["status"] == "Failed"
    assert '"exit_code": 3' in capsys.readouterr().out.split("Error:", 1)[1]


def test_interleave_ranks_orders_by_line_time_and_keeps_each_ranks_order() -> None:
    """Lines with a time go in time order; a line without one stays after its rank's previous line; no time at all:
    rank by rank."""
    lines = {1: RANK1.splitlines(), 0: RANK0.splitlines()}
    assert [f"[rank {r}] {t}" for r, t in interleave_ranks(lines)] == INTERLEAVED
    assert interleave_ranks({1: ["b1", "b2"], 0: ["a1"]}) == [(0, "a1"), (1, "b1"), (1, "b2")]


def test_following_a_local_run_whose_process_was_killed_ends(exp: Experiment, store: Path) -> None:
    """`runlog logs --follow` / wait_for_completion of a start_logging run whose process died (kill -9, OOM) end, Failed."""
    code = textwrap.dedent(
        f"""
        import os, signal, runlog
        run = runlog.Experiment(runlog.Workspace({str(store)!r}), {exp.name!r}).start_logging()
        run.log("loss", 0.5)
        print(run.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    run = runlog.Run(exp, proc.stdout.strip())
    assert run.get_status() == "Running"
    follower = subprocess.run(
        [sys.executable, "-m", "runlog.cli", "logs", run.id, "--follow", "--store", str(store)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert follower.returncode == 0, follower.stderr
    assert run.get_status() == "Failed"
    assert run.get_details()["error"]["error"]["code"] == "ProcessLost"
    assert run.get_metrics() == {"loss": 0.5}


def test_killed_supervisor_does_not_leave_the_run_running(exp: Experiment) -> None:
    """If the supervisor is killed (-9), wait_for_completion notices and fails the run instead of waiting forever."""
    write(Path("long.py"), "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    run = exp.submit(ScriptRunConfig(source_directory=".", script="long.py"))
    wait_until(lambda: (run.path / "files/logs/process_info.json").exists())
    info = json.loads(log_text(run, "logs/process_info.json"))
    os.kill(run._record["supervisor_pid"], signal.SIGKILL)
    with pytest.raises(ActivityFailedError, match="supervisor"):
        run.wait_for_completion()
    assert run.get_details()["error"]["error"]["code"] == "SupervisorLost"
    wait_until(lambda: not pid_alive(info["processes"][0]["pid"]), timeout=10)  # the orphaned script is stopped
    assert not Path(info["cwd"]).exists()
