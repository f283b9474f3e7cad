"""runlog._model.status: run statuses, run ids and the error details of a failed run."""

from __future__ import annotations

import re
import time

import pytest

from runlog._model.status import RunStatus, _new_run_id, _utc, make_error_details, validate_run_id


def test_the_status_list_is_every_status_once() -> None:
    constants = {v for k, v in vars(RunStatus).items() if k.isupper() and isinstance(v, str)}
    assert sorted(RunStatus.list()) == sorted(constants) and len(RunStatus.list()) == 11
    assert RunStatus.TERMINAL == {"Completed", "Failed", "Canceled"} and RunStatus.TERMINAL <= set(RunStatus.list())


@pytest.mark.parametrize("run_id", ["a", "exp_1700000000_ab12", "x.y-z", "é", "a" * 255])
def test_valid_run_ids(run_id: str) -> None:
    assert validate_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", ["", ".", "..", "a/b", "a b", "ok\n", "a" * 256, None, 3])
def test_run_ids_that_cannot_name_a_folder_are_refused(run_id: object) -> None:
    with pytest.raises(ValueError, match="run id may contain only"):
        validate_run_id(run_id)


def test_a_new_run_id_names_its_experiment_and_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1700000000.9)
    run_id = _new_run_id("mnist_v2")
    assert re.fullmatch(r"mnist_v2_1700000000_[0-9a-f]{8}", run_id)
    assert run_id.rsplit("_", 2)[0] == "mnist_v2"  # what layout.find_run_dir guesses first
    assert validate_run_id(run_id) == run_id
    assert _new_run_id("mnist_v2") != run_id


def test_utc_times() -> None:
    assert _utc(None) is None
    assert _utc(0) == "1970-01-01T00:00:00.000000Z"
    assert _utc(1700000000.25) == "2023-11-14T22:13:20.250000Z"


def test_error_details_of_an_exception() -> None:
    try:
        raise KeyError("lr")
    except KeyError as exc:
        details = make_error_details(exc)
    assert details["code"] == "UserError" and details["type"] == "KeyError"
    assert details["message"] == "KeyError: 'lr'"
    assert "Traceback" in details["traceback"] and "raise KeyError" in details["traceback"]
    assert make_error_details(ValueError("x"), "SystemError")["code"] == "SystemError"


def test_error_details_of_a_mapping_or_text() -> None:
    assert make_error_details({"error": {"message": "m"}}) == {"message": "m", "code": "UserError"}
    assert make_error_details({"message": "m", "code": "Mine"}, "Other") == {"message": "m", "code": "Mine"}
    assert make_error_details("disk on fire", "SystemError") == {"code": "SystemError", "message": "disk on fire"}
    assert make_error_details(None) == {"code": "UserError", "message": ""}
