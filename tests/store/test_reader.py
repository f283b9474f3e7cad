"""runlog._store.reader: reading a run back (record, metric and meta events, files) without its writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runlog import DamagedRecordError, Experiment
from runlog._store import layout
from runlog._store.reader import (
    RunReader,
    names_path,
    points_path,
    read_process,
    record_problem,
    spare_names,
)
from runlog._store.records import pack_float

pytestmark = pytest.mark.usefixtures("fresh_damage_reports")


def _run_dir(tmp_path: Path, meta: list[list[Any]] | None = None, record: Any = None) -> Path:
    run = layout.run_dir(tmp_path, "exp", "exp_1_a")
    (run / layout.EVENTS_DIR).mkdir(parents=True)
    (run / layout.RUN_RECORD).write_text(json.dumps(record if record is not None else {"run_id": "exp_1_a"}))
    if meta is not None:
        (run / layout.EVENTS_DIR / ("p" + layout.META_SUFFIX)).write_text("".join(json.dumps(e) + "\n" for e in meta))
    return run


def test_state_adds_up_the_meta_events(tmp_path: Path) -> None:
    run = _run_dir(
        tmp_path,
        [
            ["status", "Running", None, None, 10.0],
            ["tag", "a", "1", None, 11.0],
            ["tag", "b", "2", None, 11.0],
            ["untag", "a", None, None, 12.0],
            ["prop", "seed", "1", None, 12.0],
            ["prop", "seed", "2", None, 13.0],  # a property cannot change: the first stays
            ["name", None, "fold-1", None, 13.0],
            ["description", None, "about", None, 13.0],
            ["metric_description", "loss", "the loss", None, 13.0],
            ["process", "p", {"rank": 0}, None, 13.0],
            ["note", None, "free", None, 13.0],
            ["status", "Failed", {"error": {"message": "boom"}}, None, 20.0],
            ["status", "Running", None, None, 21.0],  # a straggler does not reopen an ended run
        ],
    )
    state = RunReader(run).state()
    assert (state.status, state.start_time, state.end_time) == ("Failed", 10.0, 20.0)
    assert state.error == {"message": "boom"}
    assert state.tags == {"b": "2"} and state.properties == {"seed": "1"}
    assert (state.display_name, state.description) == ("fold-1", "about")
    assert state.metric_descriptions == {"loss": "the loss"}
    assert state.extra == {"process": {"p": {"rank": 0}}, "note": "free"}


def test_state_of_a_run_with_no_events_is_not_started(tmp_path: Path) -> None:
    assert RunReader(_run_dir(tmp_path)).state().status == "NotStarted"


def test_meta_events_of_the_wrong_type_are_skipped(tmp_path: Path) -> None:
    run = _run_dir(
        tmp_path,
        [
            ["tag", "k", 3, None, 1.0],
            ["tag", "", "v", None, 1.0],
            ["status", None, None, None, 1.0],
            ["tag", "ok", "v", None, 2.0],
        ],
    )
    state = RunReader(run).state()
    assert state.tags == {"ok": "v"} and state.status == "NotStarted"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"run_id": "r", "created": 1.5, "parent_id": None}, None),
        ([], "a JSON list, not an object"),
        ({"created": "today"}, "'created' is 'today', not unix seconds"),
        ({"created": True}, "'created' is True, not unix seconds"),
        ({"run_type": 3}, "'run_type' is 3, not a string"),
    ],
)
def test_record_problem(data: Any, problem: str | None) -> None:
    assert record_problem(data) == problem


def test_record_reads_run_json_or_says_it_is_damaged(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, record={"run_id": "exp_1_a", "created": 1.0})
    reader = RunReader(run)
    assert reader.exists() and reader.record() == {"run_id": "exp_1_a", "created": 1.0}
    (run / layout.RUN_RECORD).write_text('{"created": "x"}')
    with pytest.raises(DamagedRecordError, match=r"run\.json of run exp_1_a at .* is damaged") as info:
        reader.record()
    assert info.value.run_id == "exp_1_a"
    record, why = reader.record_or_damage()
    assert record == {} and why is not None and "'created' is 'x'" in why
    (run / layout.RUN_RECORD).unlink()
    assert not reader.exists()
    with pytest.raises(FileNotFoundError):
        reader.record()


def test_sibling_paths_of_an_events_file(tmp_path: Path) -> None:
    metrics = tmp_path / ("h-1-ab.2" + layout.METRICS_SUFFIX)
    assert points_path(metrics) == tmp_path / ("h-1-ab.2" + layout.POINTS_SUFFIX)
    assert names_path(metrics) == tmp_path / ("h-1-ab.2" + layout.NAMES_SUFFIX)
    with pytest.raises(ValueError, match="not an events file"):
        names_path(tmp_path / "notes.txt")


def test_read_process_reads_points_with_names_from_either_copy(tmp_path: Path) -> None:
    metrics = tmp_path / ("p" + layout.METRICS_SUFFIX)
    metrics.write_text('["n","loss",0,null,1.0]\n["s","phase","a",null,2.5]\n')
    points_path(metrics).write_bytes(pack_float(0, 0.5, layout.NO_STEP, 2.0) + pack_float(1, 9.0, layout.NO_STEP, 3.0))
    (tmp_path / ("p" + layout.META_SUFFIX)).write_text('["n","acc",1,null,1.0]\n')
    assert spare_names(metrics) == {1: "acc"}
    columns = read_process(metrics)
    assert list(zip(columns.names, columns.values)) == [("loss", 0.5), ("phase", "a"), ("acc", 9.0)]


def test_file_names_leave_out_files_being_written(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    files = run / layout.FILES_DIR
    (files / "outputs" / "sub").mkdir(parents=True)
    (files / "outputs" / "sub" / "b.txt").write_text("b")
    (files / "outputs" / "a.txt").write_text("a")
    (files / "outputs" / ".upload-x").write_text("partial")
    (files / "logs").mkdir()
    (files / "logs" / "driver_log.txt").write_text("log")
    reader = RunReader(run)
    assert reader.file_names() == ["logs/driver_log.txt", "outputs/a.txt", "outputs/sub/b.txt"]
    assert list(reader.iter_log_names()) == ["logs/driver_log.txt"]


def test_file_path_refuses_names_and_links_leading_out_of_the_run(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    files = run / layout.FILES_DIR
    files.mkdir()
    (files / "a.txt").write_text("a")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (files / "link.txt").symlink_to(outside)
    reader = RunReader(run)
    assert reader.file_path("a.txt") == files / "a.txt"
    with pytest.raises(ValueError, match="run file name"):
        reader.file_path("../run.json")
    with pytest.raises(ValueError, match="points outside the run's files"):
        reader.file_path("link.txt")


def test_a_contained_reader_refuses_a_files_folder_linked_out_of_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run = _run_dir(store)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.txt").write_text("a")
    (run / layout.FILES_DIR).symlink_to(elsewhere)
    assert RunReader(run).file_path("a.txt").read_text() == "a"  # the API follows the run's own link
    with pytest.raises(ValueError, match="a link out of the store"):
        RunReader(run, contained=True).file_path("a.txt")


def test_metric_events_of_a_run_through_the_api_in_logged_order(exp: Experiment) -> None:
    run = exp.start_logging()
    run.log("loss", 0.5, step=1)
    run.log("phase", "a")
    run.log_list("l", [1])
    events = RunReader(run.path).metric_events()
    assert [e[:4] for e in events] == [["s", "loss", 0.5, 1], ["s", "phase", "a", None], ["l", "l", [1], None]]
