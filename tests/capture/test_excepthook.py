"""Tests of runlog._capture.excepthook: uncaught exceptions reach the active run's driver log and fail the run."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import runlog
from runlog._capture import excepthook as _excepthook
from runlog._model import context as _context

pytestmark = pytest.mark.usefixtures("restored")


def log_text(run: runlog.Run, name: str = "logs/driver_log.txt") -> str:
    path = run.path / "files" / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _raise_in_thread(exc: BaseException, name: str = "worker-1") -> None:
    def boom() -> None:
        raise exc

    th = threading.Thread(target=boom, name=name)
    th.start()
    th.join()


def test_install_is_reported_and_uninstall_leaves_a_hook_wrapped_since_in_place() -> None:
    assert not _excepthook.installed()
    _excepthook.install()
    assert _excepthook.installed()

    def someone_elses(*args: object) -> None:
        pass

    sys.excepthook = someone_elses  # another library wrapped the hook after ours
    _excepthook.uninstall()
    assert not _excepthook.installed()
    assert sys.excepthook is someone_elses
    assert threading.excepthook is not _excepthook._threading_hook


def test_json_lines_mode_writes_the_traceback_as_one_json_object(exp: runlog.Experiment) -> None:
    threading.excepthook = lambda args: None
    _excepthook.install()
    _excepthook.json_lines = True
    run = exp.start_logging()
    _raise_in_thread(ValueError("in json"))
    (line,) = log_text(run).splitlines()
    data = json.loads(line)
    assert (data["level"], data["logger"]) == ("CRITICAL", "uncaught")
    assert data["message"].startswith("Uncaught exception in thread worker-1 (pid ")
    assert data["exc_info"].startswith("Traceback") and data["exc_info"].endswith("ValueError: in json")
    assert data["time"].endswith("Z")


def test_output_captured_with_the_default_hook_is_not_written_twice(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python's default hook prints the traceback to stderr, which a submitted run captures already."""
    monkeypatch.setenv("RUNLOG_OUTPUT_CAPTURED", "1")
    threading.excepthook = threading.__excepthook__
    _excepthook.install()
    run = exp.start_logging()
    _raise_in_thread(KeyError("captured"))
    assert "KeyError: 'captured'" in capsys.readouterr().err
    assert log_text(run) == ""
    assert isinstance(_context._uncaught[-1], KeyError)  # still noted: the run ends Failed at exit


def test_a_thread_ending_with_system_exit_is_not_recorded(exp: runlog.Experiment) -> None:
    seen: list[object] = []
    threading.excepthook = lambda args: seen.append(args.exc_type)
    _excepthook.install()
    run = exp.start_logging()
    _raise_in_thread(SystemExit(0))
    assert seen == [SystemExit]  # the previous hook still gets it
    assert log_text(run) == "" and _context._uncaught == []


def test_without_an_active_run_the_exception_is_only_noted_and_passed_on() -> None:
    seen: list[str] = []
    sys.excepthook = lambda *a: seen.append("previous")
    _excepthook.install()
    try:
        raise OSError("no run")
    except OSError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert seen == ["previous"]
    assert isinstance(_context._uncaught[-1], OSError)


def test_a_main_thread_exception_in_a_worker_process_does_not_fail_the_run(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the run's main process fails it at once; another process logging into it writes the traceback."""
    sys.excepthook = lambda *a: None
    _excepthook.install()
    run = exp.start_logging()
    monkeypatch.setattr(run, "_owner_pid", -1)  # as a worker that found the run sees it (its output not captured)
    monkeypatch.setattr(run, "_record", {**run._record, "pid": -5})
    try:
        raise ValueError("worker failed")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert "ValueError: worker failed" in log_text(run, f"logs/driver_log_{os.getpid()}.txt")
    assert run.get_status() == "Running"


def test_uncaught_thread_exception_is_written(exp: runlog.Experiment) -> None:
    """An exception escaping a thread lands in the driver log with its traceback and is noted for the run."""
    threading.excepthook = lambda args: None  # the previous hook: keep pytest's out of it
    _excepthook.install()
    run = exp.start_logging()

    def boom() -> None:
        raise RuntimeError("worker exploded")

    th = threading.Thread(target=boom, name="worker-1")
    th.start()
    th.join()
    text = log_text(run)
    assert "CRITICAL:uncaught:Uncaught exception in thread worker-1" in text
    assert "RuntimeError: worker exploded" in text and "Traceback" in text
    assert isinstance(runlog._model.context._uncaught[-1], RuntimeError)
    assert run.get_status() == "Running"  # the main thread may still be training


def test_hooks_are_chained_and_restorable() -> None:
    """install() wraps the previous hooks once and calls them; uninstall() restores them."""
    seen: list[str] = []
    sys.excepthook = lambda *a: seen.append("sys")
    threading.excepthook = lambda args: seen.append("thread")
    before = sys.excepthook, threading.excepthook
    _excepthook.install()
    _excepthook.install()
    assert sys.excepthook is not before[0]
    try:
        raise KeyError("x")
    except KeyError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert seen == ["sys"]
    _excepthook.uninstall()
    assert (sys.excepthook, threading.excepthook) == before


def test_uncaught_main_thread_exception_fails_the_run(tmp_path: Path, store: Path) -> None:
    """A script dying of an uncaught exception: traceback in its driver log, run marked Failed."""
    import subprocess

    script = tmp_path / "dies.py"
    script.write_text(
        textwrap.dedent("""\
        import logging, runlog
        logging.basicConfig(level=logging.INFO, handlers=[runlog.RunHandler()])
        run = runlog.Experiment(runlog.Workspace(), "dies").start_logging()
        print(run.id, flush=True)
        logging.getLogger("s").info("about to fail")
        raise SystemError("fatal in main")
        """)
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "fatal in main" in proc.stderr
    run = runlog.Workspace(store).get_run(proc.stdout.strip())
    assert run.get_status() == "Failed"
    text = log_text(run)
    assert "INFO:s:about to fail" in text and "CRITICAL:uncaught:Uncaught exception in thread MainThread" in text
    assert "SystemError: fatal in main" in text


def test_an_uncaught_exception_is_printed_before_the_run_is_ended(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previous hook (which prints the traceback) runs before the run's end, which may wait for outputs and uploads."""
    order: list[str] = []
    sys.excepthook = lambda *a: order.append("printed")
    _excepthook.install()
    run = exp.start_logging()
    real_fail = runlog.Run.fail

    def fail(self: runlog.Run, *args: object, **kwargs: object) -> None:
        order.append("failed")
        real_fail(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runlog.Run, "fail", fail)
    try:
        raise ValueError("diverged")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert order == ["printed", "failed"]
    assert run.get_status() == "Failed"
    assert "ValueError: diverged" in log_text(run)
