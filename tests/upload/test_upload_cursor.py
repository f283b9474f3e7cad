"""runlog._upload._cursor: how far a run has been shipped to one target, saved atomically."""

from __future__ import annotations

import json
from pathlib import Path

from upload_helpers import MemoryTarget, uploader

import runlog
from runlog._upload._cursor import CURSOR_VERSION, UPLOAD_DIR, FileCursor, UploadCursor, read_remote_id


def test_cursor_moves_only_past_acknowledged_events_and_resumes(run: runlog.Run) -> None:
    """A second uploader starts where the first stopped: only new events are sent."""
    target = MemoryTarget()
    for i in range(10):
        run.log("a", i)
    assert uploader(run, target).sync()
    for i in range(10, 15):
        run.log("a", i)
    second = MemoryTarget()
    assert uploader(run, second).sync()
    assert [p[1] for p in second.points()] == list(range(10, 15))
    assert [p[2] for p in second.points()] == list(range(10, 15))  # steps continue from the cursor
    assert second.opened == 0  # the remote run came from the cursor
    saved = json.loads(UploadCursor.path_for(run.path, "memory-test").read_text())
    assert saved["remote"] == {"run_id": f"remote-{run.id}"} and saved["version"] == 1


def test_a_cursor_round_trips_through_its_file(tmp_path: Path) -> None:
    cursor = UploadCursor("t-1", "http://host", remote={"run_id": "r", "nested": {"a": [1]}})
    cursor.metrics["p.metrics.jsonl"] = FileCursor(640, {"loss": 3}, {"table": 2})
    cursor.meta["p.meta.jsonl"] = 12
    cursor.files["outputs/model.pt"] = [10, 123456789]
    cursor.finished, cursor.dead_letters = "Completed", 2
    cursor.save(tmp_path)
    path = tmp_path / UPLOAD_DIR / "t-1.json"
    assert UploadCursor.path_for(tmp_path, "t-1") == path
    assert json.loads(path.read_text())["version"] == CURSOR_VERSION
    loaded = UploadCursor.load(tmp_path, "t-1", "http://host")
    assert loaded == cursor
    assert [p.name for p in path.parent.iterdir()] == ["t-1.json"]  # no temporary file left behind


def test_a_missing_damaged_or_foreign_cursor_starts_afresh(tmp_path: Path) -> None:
    """No file, a file that is not JSON or not an object, or a cursor of another endpoint: a fresh cursor."""
    assert UploadCursor.load(tmp_path, "t", "http://a") == UploadCursor("t", "http://a")
    path = UploadCursor.path_for(tmp_path, "t")
    path.parent.mkdir()
    for text in ("{not json", "[1, 2]"):
        path.write_text(text)
        assert UploadCursor.load(tmp_path, "t", "http://a") == UploadCursor("t", "http://a")
    UploadCursor("t", "http://a", metrics={"f": FileCursor(32)}).save(tmp_path)
    assert UploadCursor.load(tmp_path, "t", "http://b") == UploadCursor("t", "http://b")
    assert UploadCursor.load(tmp_path, "t", "http://a").metrics["f"].offset == 32
    assert UploadCursor.load(tmp_path, "t").endpoint == "http://a"  # no endpoint asked: the saved one


def test_a_file_cursor_copy_is_independent_and_bad_json_is_a_fresh_one() -> None:
    original = FileCursor(64, {"a": 1}, {"t": 2})
    copy = original.copy()
    copy.next_step["a"] = 9
    copy.next_row["t"] = 9
    assert original == FileCursor(64, {"a": 1}, {"t": 2})
    assert FileCursor.from_json(original.to_json()) == original
    assert FileCursor.from_json(None) == FileCursor() and FileCursor.from_json([1]) == FileCursor()
    assert FileCursor.from_json({"offset": "96", "next_step": {"a": "4"}}) == FileCursor(96, {"a": 4}, {})


def test_read_remote_id_of_a_target_or_of_the_only_cursor(tmp_path: Path) -> None:
    assert read_remote_id(tmp_path) is None  # no upload folder
    UploadCursor("mlflow-1", remote={"run_id": "abc"}).save(tmp_path)
    assert read_remote_id(tmp_path) == "abc"
    assert read_remote_id(tmp_path, "mlflow-1") == "abc"
    assert read_remote_id(tmp_path, "other") is None
    UploadCursor("otlp-2", remote={}).save(tmp_path)
    assert read_remote_id(tmp_path) is None  # two cursors: which one is meant is unknown
    assert read_remote_id(tmp_path, "otlp-2") is None  # no remote run yet


def test_a_cursor_with_a_field_of_the_wrong_type_starts_afresh(tmp_path: Path) -> None:
    """Valid JSON whose fields have the wrong types (a file edited by hand or damaged) is a fresh cursor, not an error."""
    path = UploadCursor.path_for(tmp_path, "t")
    path.parent.mkdir()
    for saved in ({"metrics": {"f": {"offset": None}}}, {"metrics": [1]}, {"meta": {"m": "x"}}, {"files": {"a": 3}}):
        path.write_text(json.dumps(saved))
        assert UploadCursor.load(tmp_path, "t", "http://a") == UploadCursor("t", "http://a"), saved
