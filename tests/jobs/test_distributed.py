"""Tests of runlog._jobs.distributed: ranks of one job meeting in one run, and each rank's metrics."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from rank_helpers import two_rank_run

import runlog
from runlog._jobs import distributed
from runlog._jobs.distributed import get_rank_metrics, launched_rank, launcher_run, register_process


@pytest.fixture()
def launcher_env(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """This process as rank 0 of 2 of a torchrun job; the rank's end hooks are recorded instead of installed."""
    for name, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RUNLOG_EXPERIMENT", raising=False)
    installed: list[tuple[str, int]] = []
    monkeypatch.setattr(distributed, "_install_rank_end", lambda run, rank: installed.append((run.id, rank)))
    return installed


@pytest.mark.parametrize(
    ("env", "rank"),
    [
        ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, 3),
        ({"RANK": "3", "WORLD_SIZE": "4"}, None),  # no LOCAL_RANK: not a launcher's
        ({"RANK": "x", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}, None),
    ],
)
def test_launched_rank(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], rank: int | None) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert launched_rank() == rank


def test_the_job_key_tells_launches_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("WORLD_SIZE", "2")
    key = distributed.job_key()
    assert key.startswith(f"{socket.gethostname()}|{os.getppid()}|") and key.endswith("|29500|2")
    assert distributed.job_key() == key  # the ranks of one launch agree
    monkeypatch.setenv("MASTER_PORT", "29501")
    assert distributed.job_key() != key


def test_the_first_rank_creates_the_run_and_the_next_joins_it(
    store: Path, launcher_env: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = launcher_run()
    assert first is not None and first.type == "distributed"
    assert first._record["world_size"] == 2 and first._record["launcher"] == "torchrun"
    assert (os.environ["RUNLOG_RUN_ID"], os.environ["RUNLOG_STORE"]) == (first.id, str(store))
    monkeypatch.setenv("RANK", "1")  # another rank of the same launch
    second = launcher_run()
    assert second is not None and second.id == first.id
    assert launcher_env == [(first.id, 0), (first.id, 1)]
    assert len(list((store / "rendezvous").glob("*.json"))) == 1


def test_a_rank_waiting_for_a_run_nobody_creates_times_out(
    store: Path, launcher_env: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hashlib.sha256(distributed.job_key().encode()).hexdigest()[:16]
    (store / "rendezvous").mkdir(parents=True)
    (store / "rendezvous" / f"{digest}.lock").write_text("")  # another rank took the lock, then died
    monkeypatch.setattr(distributed, "RENDEZVOUS_TIMEOUT", 0.1)
    with pytest.raises(TimeoutError, match="set RUNLOG_RUN_ID to a run id to skip the rendezvous"):
        launcher_run()


def test_register_process_records_this_rank(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "bad")
    run = exp.start_logging()
    register_process(run)
    entry = run._reader.state().extra["process"][str(os.getpid())]
    assert (entry["rank"], entry["local_rank"], entry["world_size"]) == (2, 0, None)
    assert entry["host"] == socket.gethostname() and entry["events"] == run._writer._proc_id()


def _end(run: runlog.Run, rank: int, failure: list[Any], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(distributed, "_failure", failure)
    distributed._end_rank(run, rank)
    return runlog.Run(run.experiment, run.id).get_status()


def test_the_run_completes_when_the_last_rank_ends_cleanly(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    run = runlog.Run._create(exp, run_type="distributed")
    assert _end(run, 0, [], monkeypatch) == "Running"
    assert _end(run, 1, [], monkeypatch) == "Completed"


def test_a_rank_dying_of_an_exception_fails_the_run(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    run = runlog.Run._create(exp, run_type="distributed")
    assert _end(run, 1, [RuntimeError("rank 1 diverged")], monkeypatch) == "Failed"
    assert "rank 1 diverged" in json.dumps(runlog.Run(exp, run.id).get_details()["error"], default=repr)
    assert _end(run, 0, [], monkeypatch) == "Failed"  # a clean rank after it keeps the failure


def test_get_rank_metrics_tells_the_ranks_apart(tmp_path: Path) -> None:
    run = two_rank_run(tmp_path / "store")
    assert get_rank_metrics(run) == {
        0: {"loss": [0.0, 1.0, 2.0], "only0": 0},
        1: {"loss": [10.0, 11.0, 12.0], "only1": 1},
    }


def test_a_single_process_run_is_one_group_without_a_rank(exp: runlog.Experiment) -> None:
    run = exp.start_logging()
    run.log("loss", 0.5)
    assert get_rank_metrics(run) == {None: {"loss": 0.5}}
