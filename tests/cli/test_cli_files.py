"""runlog.cli.files: `runlog files` and `runlog download`."""

from __future__ import annotations

import zipfile
from pathlib import Path

from cli_helpers import fail, invoke
from click.testing import CliRunner

from runlog import Run
from runlog.cli.files import download, files


def test_files_download_and_zip(seeded: Run, tmp_path: Path) -> None:
    """`runlog files` lists files; `runlog download` copies them or writes a zip of them."""
    assert invoke("files", seeded.id).split() == ["logs/driver_log.txt", "outputs/f.txt"]
    invoke("download", seeded.id, "--output", str(tmp_path / "dl"), "--name", "outputs/f.txt")
    assert (tmp_path / "dl" / "outputs" / "f.txt").read_text() == "file body"
    invoke("download", seeded.id, "--zip", str(tmp_path / "all.zip"))
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:
        assert sorted(zf.namelist()) == ["logs/driver_log.txt", "outputs/f.txt"]
        assert zf.read("outputs/f.txt") == b"file body"


def test_download_never_overwrites_without_force(three: list[Run], tmp_path: Path) -> None:
    """`runlog download` refuses an existing file (folder or zip) and writes it with --force."""
    run = three[0]
    run._writer.write_log("log text\n")
    invoke("download", "abc-1", "--output", str(tmp_path / "d"))
    target = tmp_path / "d" / "logs" / "driver_log.txt"
    target.write_text("mine")
    out = fail("download", "abc-1", "--output", str(tmp_path / "d"))
    assert "--force" in out and target.read_text() == "mine"
    invoke("download", "abc-1", "--output", str(tmp_path / "d"), "--force")
    assert target.read_text() == "log text\n"
    (tmp_path / "a.zip").write_text("mine")
    assert "--force" in fail("download", "abc-1", "--zip", str(tmp_path / "a.zip"))
    invoke("download", "abc-1", "--zip", str(tmp_path / "a.zip"), "--force")
    assert (tmp_path / "a.zip").read_bytes().startswith(b"PK")


def test_files_lists_a_run_s_files_one_per_line(seeded: Run) -> None:
    result = CliRunner().invoke(files, [seeded.id])
    assert result.exit_code == 0 and result.output == "logs/driver_log.txt\noutputs/f.txt\n"


def test_downloading_an_unknown_file_names_a_close_one_and_writes_nothing(seeded: Run, tmp_path: Path) -> None:
    result = CliRunner().invoke(download, [seeded.id, "--name", "outputs/g.txt", "--output", str(tmp_path / "d")])
    assert result.exit_code == 1 and "no file 'outputs/g.txt'" in result.output and "outputs/f.txt" in result.output
    assert not (tmp_path / "d").exists()


def test_download_prints_each_file_it_wrote(seeded: Run, tmp_path: Path) -> None:
    result = CliRunner().invoke(download, [seeded.id, "--output", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert sorted(Path(line).relative_to(tmp_path / "d").as_posix() for line in result.output.split()) == [
        "logs/driver_log.txt",
        "outputs/f.txt",
    ]
    zipped = CliRunner().invoke(download, [seeded.id, "--zip", str(tmp_path / "a.zip"), "--name", "outputs/f.txt"])
    assert "wrote 1 file(s)" in zipped.output
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.namelist() == ["outputs/f.txt"]
