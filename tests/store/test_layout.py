"""runlog._store.layout: where things live in a store, run file names, atomic records."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from runlog._store import layout


def test_write_json_atomic_fsyncs_the_file_and_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 3/11: a record is fsynced before its rename and its folder after it (durable across a power loss)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    layout.write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert synced == ["file", "folder"]
    assert layout.read_json(tmp_path / "r.json") == {"a": 1}


def _make_run(store: Path, experiment: str, run_id: str) -> Path:
    folder = layout.run_dir(store, experiment, run_id)
    folder.mkdir(parents=True)
    (folder / layout.RUN_RECORD).write_text("{}")
    return folder


def test_run_dir_is_below_its_experiment() -> None:
    store = Path("/s")
    assert layout.experiment_dir(store, "e") == Path("/s/experiments/e")
    assert layout.run_dir(store, "e", "r") == Path("/s/experiments/e/runs/r")


def test_find_run_dir_finds_a_run_in_any_experiment(tmp_path: Path) -> None:
    own = _make_run(tmp_path, "exp", "exp_1700000000_abcd")
    moved = _make_run(tmp_path, "other", "exp_1700000001_ef01")  # its id names another experiment
    assert layout.find_run_dir(tmp_path, own.name) == own
    assert layout.find_run_dir(tmp_path, moved.name) == moved


def test_find_run_dir_needs_a_run_record(tmp_path: Path) -> None:
    folder = layout.run_dir(tmp_path, "exp", "exp_1_a")
    folder.mkdir(parents=True)  # a folder waiting for its run.json
    assert layout.find_run_dir(tmp_path, "exp_1_a") is None
    assert layout.find_run_dir(tmp_path / "no-store", "exp_1_a") is None


@pytest.mark.parametrize("run_id", ["", ".", "..", "a/b", None, 3])
def test_find_run_dir_refuses_ids_that_name_no_run_folder(tmp_path: Path, run_id: object) -> None:
    _make_run(tmp_path, "exp", "x")
    assert layout.find_run_dir(tmp_path, run_id) is None


@pytest.mark.parametrize(
    ("name", "posix"),
    [
        ("outputs/model.pkl", "outputs/model.pkl"),
        ("outputs\\model.pkl", "outputs/model.pkl"),
        ("./outputs//a/./b.txt", "outputs/a/b.txt"),
        (" logs/x.txt ", "logs/x.txt"),
    ],
)
def test_check_file_name_gives_the_posix_form(name: str, posix: str) -> None:
    assert layout.check_file_name(name) == posix


@pytest.mark.parametrize("name", ["", "  ", "../x", "a/../../x", "/etc/passwd", "C:/x", "c:x", ".", 3])
def test_check_file_name_refuses_names_outside_the_run(name: object) -> None:
    with pytest.raises(ValueError, match="run file name"):
        layout.check_file_name(name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "stem"), [("val/acc", "val_acc"), ("loss curve!", "loss_curve"), ("..", "image"), ("é", "é")]
)
def test_safe_file_stem(name: str, stem: str) -> None:
    assert layout.safe_file_stem(name) == stem


def test_temp_file_has_the_mode_of_a_new_file_and_is_removed_when_the_block_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "_umask", 0o027)
    with layout.temp_file(tmp_path, ".tmp-", ".json") as (fd, tmp):
        os.close(fd)
        assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o640
        assert Path(tmp).name.startswith(".tmp-") and tmp.endswith(".json")
    assert Path(tmp).exists()  # kept: the caller renames it
    with pytest.raises(RuntimeError), layout.temp_file(tmp_path, ".tmp-") as (fd, failed):
        os.close(fd)
        raise RuntimeError
    assert not Path(failed).exists()


def test_current_umask_is_the_process_umask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "_umask", None)
    old = os.umask(0o023)
    try:
        assert layout.current_umask() == 0o023
    finally:
        os.umask(old)


def test_write_json_atomic_replaces_the_record_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.json"
    layout.write_json_atomic(path, {"b": 1, "a": [1, 2]})
    layout.write_json_atomic(path, {"c": None})
    assert layout.read_json(path) == {"c": None}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_iter_file_prefix_stops_at_the_size_taken_before(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(b"0123456789")
    assert b"".join(layout.iter_file_prefix(path, 7, chunk_size=3)) == b"0123456"
    assert list(layout.iter_file_prefix(path, 7, chunk_size=3)) == [b"012", b"345", b"6"]
    assert b"".join(layout.iter_file_prefix(path, 50)) == b"0123456789"  # a file cut shorter: what there is
    assert list(layout.iter_file_prefix(path, 0)) == []
