"""runlog._model.context: which run is active (with-blocks, runs started in this process, the environment)."""

from __future__ import annotations

import contextvars
import os
from types import SimpleNamespace

import pytest

import runlog
from runlog import Experiment, Run
from runlog._model import context as _context
from runlog._model.hooks import seams


def test_with_block_makes_the_inner_run_active_and_restores_the_outer(exp: Experiment) -> None:
    """The innermost `with run:` is the active run; leaving it makes the outer one active again."""
    outer = exp.start_logging()
    inner = outer.child_run()
    with inner:
        assert Run.get_context() is inner
    assert Run.get_context() is outer


def test_a_run_ended_through_another_handle_is_no_longer_active_or_open(exp: Experiment) -> None:
    """Run(exp, id).complete() on a run started here ends it for the original object too: not active, not loggable."""
    run = exp.start_logging()
    Run(exp, run.id).complete()
    assert _context.active_run() is None
    with pytest.raises(runlog.RunFinishedError, match="is Completed"):
        run.log("x", 1)


def test_a_thread_crash_during_an_earlier_run_does_not_fail_a_later_run_at_exit(exp: Experiment) -> None:
    """Only the runs that were running when a thread died uncaught end Failed at interpreter exit."""
    first = exp.start_logging()
    _context.note_uncaught(ZeroDivisionError("a worker thread died"))  # what threading.excepthook notes
    first.complete()  # the program ended this one explicitly
    later = exp.start_logging()  # left open: ended by the exit hook
    running_during_crash = exp.start_logging()
    _context.note_uncaught(RuntimeError("crash while both were running"))
    _context._finish_at_exit()
    assert first.get_status() == "Completed"
    assert running_during_crash.get_status() == "Failed"
    assert later.get_status() == "Failed"  # it was running when the RuntimeError was noted
    another = exp.start_logging()
    _context._finish_at_exit()
    assert another.get_status() == "Completed"


def test_nested_runs_name_the_newest_and_restore_the_older(exp: Experiment) -> None:
    """With two runs started, the variables name the newer; when it ends, the older again."""
    first = exp.start_logging()
    second = exp.start_logging()
    assert os.environ["RUNLOG_RUN_ID"] == second.id
    second.complete()
    assert os.environ["RUNLOG_RUN_ID"] == first.id
    third = exp.start_logging()
    first.complete()  # not the newest: the newest keeps its name
    assert os.environ["RUNLOG_RUN_ID"] == third.id
    third.complete()
    assert "RUNLOG_RUN_ID" not in os.environ


def test_no_run_is_active_at_first() -> None:
    assert _context.active_run() is None


def test_push_and_pop_make_a_run_active_in_this_context(exp: Experiment) -> None:
    run = exp.start_logging()
    other = Run(exp, run.id)  # another handle: not started here
    token = _context.push(other)
    assert _context.active_run() is other
    _context.pop(token)
    assert _context.active_run() is run  # the newest run started in this process


def test_popping_a_token_of_another_context_clears_this_one(exp: Experiment) -> None:
    run = exp.start_logging()
    token = contextvars.copy_context().run(_context.push, run)
    _context.pop(token)
    assert _context._current.get() is None
    assert _context.active_run() is run  # still started in this process


def test_a_finished_run_is_never_the_active_one(exp: Experiment) -> None:
    first = exp.start_logging()
    second = exp.start_logging()
    assert _context.active_run() is second
    second.complete()
    assert _context.active_run() is first
    first.complete()
    assert _context.active_run() is None


def test_the_environment_run_is_looked_up_once_through_its_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    found = SimpleNamespace(_finished=False)
    calls: list[int] = []

    def environment_run() -> object:
        calls.append(1)
        return found

    monkeypatch.setattr(seams, "environment_run", environment_run)
    assert _context.active_run() is found
    assert _context.environment_run() is found
    assert calls == [1]
    found._finished = True
    assert _context.active_run() is None
    assert calls == [1]


def test_a_started_run_is_named_in_the_environment_unless_the_process_runs_for_another(
    exp: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = exp.start_logging()
    assert (os.environ["RUNLOG_RUN_ID"], os.environ["RUNLOG_EXPERIMENT"]) == (run.id, exp.name)
    assert os.environ["RUNLOG_STORE"] == str(exp.workspace.store)
    run.complete()
    assert "RUNLOG_RUN_ID" not in os.environ
    monkeypatch.setenv("RUNLOG_RUN_ID", "submitted_1_ab")  # a submitted script's own run
    child = exp.start_logging()
    assert os.environ["RUNLOG_RUN_ID"] == "submitted_1_ab"
    child.complete()
    assert os.environ["RUNLOG_RUN_ID"] == "submitted_1_ab"


def test_an_uncaught_exception_is_noted_only_for_the_runs_running_then(exp: Experiment) -> None:
    running = exp.start_logging()
    error = RuntimeError("worker died")
    _context.note_uncaught(error)
    later = exp.start_logging()
    assert _context._uncaught_in.get(running) is error
    assert later not in _context._uncaught_in
    running.complete()
    assert running not in _context._uncaught_in  # forgotten when it ends
    later.complete()
    assert runlog.Run(exp, running.id).get_status() == "Completed"
