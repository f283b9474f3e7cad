"""Tests of runlog._errors: the one exception tree, each error also the built-in of its meaning."""

from __future__ import annotations

import pytest

import runlog
from runlog import _errors
from runlog._errors import (
    ActivityFailedError,
    DamagedRecordError,
    ExperimentNotFound,
    InvalidArgumentError,
    InvalidExperimentName,
    InvalidMetricValue,
    InvalidStatusTransition,
    RunFileNotFound,
    RunFinishedError,
    RunlogError,
    RunNotFound,
    SnapshotTooLargeError,
    StoreError,
    UnsupportedConfigurationError,
    UploadError,
    UploadRejected,
    UploadUnavailable,
    did_you_mean,
)

# Each error and the built-ins `except` clauses in user code may name for it (the module's promise).
BUILTINS: dict[type[RunlogError], tuple[type[BaseException], ...]] = {
    InvalidMetricValue: (TypeError,),
    InvalidArgumentError: (ValueError, TypeError),
    InvalidExperimentName: (ValueError,),
    RunNotFound: (LookupError,),
    ExperimentNotFound: (LookupError,),
    RunFinishedError: (RuntimeError,),
    StoreError: (OSError,),
    DamagedRecordError: (OSError, ValueError),
    RunFileNotFound: (FileNotFoundError, OSError),
    InvalidStatusTransition: (RuntimeError,),
    ActivityFailedError: (RuntimeError,),
    SnapshotTooLargeError: (ValueError,),
    UnsupportedConfigurationError: (NotImplementedError, RuntimeError),
    UploadError: (ConnectionError, OSError),
    UploadUnavailable: (ConnectionError,),
    UploadRejected: (ConnectionError,),
}


def test_every_error_of_the_module_is_listed_and_the_users_ones_exported() -> None:
    """The upload errors are not among runlog's top-level names; every other error is, as the same class."""
    classes = {getattr(_errors, n) for n in _errors.__all__}
    assert classes == {*BUILTINS, RunlogError}
    internal = {UploadError, UploadRejected, UploadUnavailable}
    assert all(getattr(runlog, cls.__name__) is cls for cls in classes - internal)  # one class, either import path
    assert not any(hasattr(runlog, cls.__name__) for cls in internal)


@pytest.mark.parametrize("cls", sorted(BUILTINS, key=lambda c: c.__name__))
def test_each_error_is_a_runlog_error_and_its_builtins(cls: type[RunlogError]) -> None:
    assert issubclass(cls, RunlogError)
    for builtin in BUILTINS[cls]:
        assert issubclass(cls, builtin), builtin


def test_the_fields_each_error_carries() -> None:
    assert InvalidMetricValue("m", name="loss").name == "loss" and InvalidMetricValue("m").name is None
    assert InvalidArgumentError("m", argument="tags").argument == "tags"
    found = RunNotFound("no run", run_id="r1")
    assert (found.run_id, found.suggestions) == ("r1", [])
    assert RunNotFound("no run", run_id="r1", suggestions=["r2"]).suggestions == ["r2"]
    assert ExperimentNotFound("m", name="e").name == "e" and InvalidExperimentName("m", name="a b").name == "a b"
    done = RunFinishedError("m", run_id="r", status="Completed")
    assert (done.run_id, done.status) == ("r", "Completed")
    damaged = DamagedRecordError("m", path="/s/run.json")
    assert (damaged.path, damaged.run_id) == ("/s/run.json", None)
    missing = RunFileNotFound("m", run_id="r", name="a.txt")
    assert (missing.run_id, missing.name) == ("r", "a.txt")
    moved = InvalidStatusTransition("m", run_id="r", status="Failed")
    assert (moved.run_id, moved.status) == ("r", "Failed")
    failed = ActivityFailedError("m", run_id="r", exit_code=3, error={"code": "UserError"})
    assert (failed.run_id, failed.exit_code, failed.error) == ("r", 3, {"code": "UserError"})
    big = SnapshotTooLargeError("m", size=10, limit=5)
    assert (big.size, big.limit) == (10, 5)


def test_upload_errors_say_whether_a_retry_can_help() -> None:
    later = UploadUnavailable("busy", status=503, code="TEMPORARILY_UNAVAILABLE", retry_after=2.5)
    assert (later.status, later.code, later.retry_after) == (503, "TEMPORARILY_UNAVAILABLE", 2.5)
    assert UploadUnavailable("down").retry_after is None and UploadUnavailable("down").status is None
    refused = UploadRejected("bad", status=400, code="INVALID_PARAMETER_VALUE", hint="check the name")
    assert (refused.status, refused.code, refused.hint) == (400, "INVALID_PARAMETER_VALUE", "check the name")
    assert UploadRejected("bad").hint == ""
    assert not issubclass(UploadRejected, UploadUnavailable) and not issubclass(UploadUnavailable, UploadRejected)
    with pytest.raises(UploadError):
        raise refused


def test_the_message_is_the_str_of_the_error() -> None:
    assert str(RunNotFound("no run 'x' in the store", run_id="x")) == "no run 'x' in the store"
    assert str(StoreError("disk full")) == "disk full"


def test_did_you_mean_names_up_to_three_close_matches() -> None:
    assert did_you_mean("los", ["loss", "lr", "acc"]) == " Did you mean loss?"
    names = ["loss_a", "loss_b", "loss_c", "loss_d"]
    tail = did_you_mean("loss_", names)
    assert tail.startswith(" Did you mean ") and tail.endswith("?") and len(tail.split(", ")) == 3
    assert did_you_mean("zzz", ["loss"], otherwise=" See runlog metrics.") == " See runlog metrics."
    assert did_you_mean("zzz", []) == ""
