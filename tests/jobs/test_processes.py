"""Tests of runlog._jobs.processes: whether a process runs, and stopping a submitted run's processes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import runlog
from runlog._jobs.processes import PROCESS_INFO, pid_alive, terminate_run_processes


def _zombie() -> subprocess.Popen[bytes]:
    """A child that has exited but is not reaped yet."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 30
    while stat.read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return child


def test_pid_alive_for_this_process_and_not_for_impossible_pids() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(0) and not pid_alive(-1)


def test_a_zombie_and_a_reaped_process_are_not_alive() -> None:
    child = _zombie()
    try:
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert not pid_alive(child.pid)


def _script_run(exp: runlog.Experiment, status: str = "Running") -> runlog.Run:
    return runlog.Run._create(exp, run_type="script", status=status)


def test_terminate_stops_every_process_group_of_the_run(exp: runlog.Experiment) -> None:
    run = _script_run(exp)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        info = run.path / "files" / PROCESS_INFO
        info.parent.mkdir(parents=True, exist_ok=True)
        info.write_text(json.dumps({"processes": [{"pid": sleeper.pid, "pgid": sleeper.pid}]}))
        terminate_run_processes(run, grace_seconds=10)
        assert sleeper.wait(timeout=10) == -15  # SIGTERM was enough
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run.get_status() == "CancelRequested"  # the supervisor (none here) would end it Canceled


def test_a_process_ignoring_sigterm_gets_sigkill_after_the_grace_period(exp: runlog.Experiment) -> None:
    run = _script_run(exp)
    code = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    stubborn = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        (run.path / "files" / "logs").mkdir(parents=True, exist_ok=True)
        (run.path / "files" / PROCESS_INFO).write_text(json.dumps({"processes": [{"pgid": stubborn.pid}]}))
        terminate_run_processes(run, grace_seconds=0.1)
        assert stubborn.wait(timeout=10) == -9
    finally:
        stubborn.kill()
        stubborn.wait()
        if stubborn.stdout is not None:
            stubborn.stdout.close()


def test_a_run_that_has_ended_is_left_as_it_is(exp: runlog.Experiment) -> None:
    run = _script_run(exp)
    run.complete()
    fresh = runlog.Run(exp, run.id)
    terminate_run_processes(fresh)
    assert fresh.get_status() == "Completed" and fresh._finished


def test_a_run_of_another_host_is_not_touched(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _script_run(exp)
    monkeypatch.setattr(run, "_record", {**run._record, "host": "some-other-host", "supervisor_pid": os.getpid()})
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("runlog.submit")
    logger.addHandler(handler)
    try:
        terminate_run_processes(run)  # would signal this very process if it did not check the host
    finally:
        logger.removeHandler(handler)
    assert run.get_status() == "Running"
    assert seen == [f"run {run.id} runs on host some-other-host: its processes cannot be stopped from here"]
