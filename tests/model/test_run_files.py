"""runlog._model.run_files: a run's files (uploads, downloads, logs, ./outputs kept at the end)."""

from __future__ import annotations

from pathlib import Path

import pytest

import runlog
from runlog import Experiment
from runlog._model.run_files import RunFiles


def test_files_upload_folder_streams_and_download_files(exp: Experiment, tmp_path: Path) -> None:
    """upload_folder, streams, download_files with a prefix, and refused names."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    run = exp.start_logging()
    run.upload_folder("data", str(src))
    with open(src / "a.txt", "rb") as fh:
        run.upload_file("outputs/stream.txt", fh)
    assert run.get_file_names() == ["data/a.txt", "data/sub/b.txt", "outputs/stream.txt"]
    written = run.download_files(prefix="data/", output_directory=str(tmp_path / "dl"))
    assert sorted(Path(p).read_text() for p in written) == ["a", "b"]
    assert (tmp_path / "dl" / "data" / "sub" / "b.txt").is_file()
    for bad in ("../escape.txt", "/etc/passwd", ""):
        with pytest.raises(ValueError, match="run file name"):
            run.upload_file(bad, str(src / "a.txt"))
    with pytest.raises(runlog.RunFileNotFound, match="Did you mean data/a.txt"):
        run.download_file("data/a.tx", str(tmp_path / "x"))
    with pytest.raises(IsADirectoryError, match="upload_folder"):
        run.upload_file("dir", str(src))


def test_outputs_folder_becomes_part_of_the_run_at_the_end(exp: Experiment) -> None:
    """Files written under ./outputs during a start_logging run are kept when it completes."""
    run = exp.start_logging()
    Path("outputs").mkdir()
    Path("outputs/model.txt").write_text("weights")
    run.complete()
    assert "outputs/model.txt" in run.get_file_names()


def test_a_run_has_the_file_half(exp: Experiment) -> None:
    assert isinstance(exp.start_logging(), RunFiles)


def test_upload_files_pairs_names_with_paths(exp: Experiment, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a")
    b.write_text("b")
    run = exp.start_logging()
    assert run.upload_files(["outputs/a.txt", "outputs/b.txt"], [str(a), str(b)]) == ["outputs/a.txt", "outputs/b.txt"]
    with pytest.raises(ValueError, match="2 names and 1 paths"):
        run.upload_files(["x", "y"], [str(a)])
    assert run.get_file_names() == ["outputs/a.txt", "outputs/b.txt"]


def test_upload_folder_needs_a_folder_and_copies_nothing_when_a_name_is_refused(
    exp: Experiment, tmp_path: Path
) -> None:
    run = exp.start_logging()
    with pytest.raises(NotADirectoryError, match="not a folder"):
        run.upload_folder("data", tmp_path / "missing")
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "mine.txt").write_text("m")
    run._writer.write_log("live\n", "logs/mine.txt")
    with pytest.raises(runlog.InvalidArgumentError, match="live log"):
        run.upload_folder("logs", folder)
    assert "logs/a.txt" not in run.get_file_names()


def test_download_file_into_a_folder_or_the_current_one(exp: Experiment, tmp_path: Path) -> None:
    run = exp.start_logging()
    src = tmp_path / "m.txt"
    src.write_text("weights")
    run.upload_file("outputs/m.txt", src)
    target = tmp_path / "into"
    target.mkdir()
    assert Path(run.download_file("outputs/m.txt", target)).read_text() == "weights"
    assert (target / "m.txt").is_file()
    assert run.download_file("outputs/m.txt") == "m.txt" and Path("m.txt").read_text() == "weights"
    with pytest.raises(runlog.RunFileNotFound, match="has no file 'nope'.*outputs/m.txt"):
        run.download_file("nope")


def test_download_files_without_the_prefix_or_to_given_paths(exp: Experiment, tmp_path: Path) -> None:
    run = exp.start_logging()
    src = tmp_path / "x.txt"
    src.write_text("x")
    run.upload_file("data/sub/x.txt", src)
    run.upload_file("other.txt", src)
    written = run.download_files(prefix="data/", output_directory=tmp_path / "out", append_prefix=False)
    assert written == [str(tmp_path / "out" / "sub" / "x.txt")]
    given = run.download_files(output_paths=[str(tmp_path / "p1"), str(tmp_path / "p2")])
    assert [Path(p).read_text() for p in given] == ["x", "x"]
    with pytest.raises(ValueError, match="output_paths has 1 entries for 2 files"):
        run.download_files(output_paths=[str(tmp_path / "p1")])


def test_get_all_logs_downloads_the_logs_only(exp: Experiment, tmp_path: Path) -> None:
    run = exp.start_logging()
    run._writer.write_log("line\n")
    run.upload_file("outputs/o.txt", __file__)
    paths = run.get_all_logs(tmp_path / "logs-out")
    assert paths == [str(tmp_path / "logs-out" / "logs" / "driver_log.txt")]
    assert Path(paths[0]).read_text() == "line\n"
