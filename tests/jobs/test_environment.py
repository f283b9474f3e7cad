"""Tests of runlog._jobs.environment: the run this process was started for, named by its environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import runlog
from runlog._jobs import distributed
from runlog._jobs.environment import environment_run


@pytest.fixture()
def warnings_of_run() -> Iterator[list[str]]:
    """The messages of the WARNING records of the ``runlog.run`` logger during the test."""
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("runlog.run")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def _submitted_run(exp: runlog.Experiment) -> runlog.Run:
    return runlog.Run._create(exp, run_type="script")


def test_no_variables_no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert environment_run() is None


def test_runlog_run_id_names_the_submitted_run(
    exp: runlog.Experiment, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _submitted_run(exp)
    monkeypatch.setenv("RUNLOG_RUN_ID", run.id)
    monkeypatch.setenv("RUNLOG_STORE", str(store))
    monkeypatch.setenv("RUNLOG_EXPERIMENT", exp.name)
    monkeypatch.delenv("RANK", raising=False)
    found = environment_run()
    assert found is not None and (found.id, found.experiment.name) == (run.id, exp.name)
    assert "process" not in found._reader.state().extra  # not a rank: nothing registered


def test_the_experiment_is_looked_up_when_not_named(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _submitted_run(exp)
    monkeypatch.setenv("RUNLOG_RUN_ID", run.id)
    found = environment_run()
    assert found is not None and found.experiment.name == exp.name


def test_a_rank_of_a_submitted_job_registers_itself(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _submitted_run(exp)
    monkeypatch.setenv("RUNLOG_RUN_ID", run.id)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    found = environment_run()
    assert found is not None
    processes = found._reader.state().extra["process"]
    assert processes[str(os.getpid())]["rank"] == 1 and processes[str(os.getpid())]["world_size"] == 2


def test_a_run_id_naming_no_run_is_a_warning_and_no_run(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, warnings_of_run: list[str]
) -> None:
    monkeypatch.setenv("RUNLOG_RUN_ID", "no_such_run")
    monkeypatch.setenv("RUNLOG_EXPERIMENT", exp.name)
    assert environment_run() is None
    (message,) = warnings_of_run
    assert message.startswith("RUNLOG_RUN_ID=no_such_run names no readable run")


def test_ranks_of_a_launcher_join_its_run(monkeypatch: pytest.MonkeyPatch) -> None:
    joined = object()
    registered: list[object] = []
    monkeypatch.setattr("runlog._jobs.environment.launcher_run", lambda: joined)
    monkeypatch.setattr("runlog._jobs.environment.register_process", registered.append)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert environment_run() is joined
    assert registered == [joined]
    monkeypatch.delenv("WORLD_SIZE")  # RANK alone is no launcher's
    assert environment_run() is None


def test_a_failing_rendezvous_is_a_warning_and_no_run(
    monkeypatch: pytest.MonkeyPatch, warnings_of_run: list[str]
) -> None:
    def timeout() -> None:
        raise TimeoutError("waited 60 s")

    monkeypatch.setattr("runlog._jobs.environment.launcher_run", timeout)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert environment_run() is None
    assert warnings_of_run == ["could not join the run of this multi-process job (waited 60 s); using a local run"]
    assert distributed.launched_rank() is None  # no LOCAL_RANK: not a launcher's full set of variables
