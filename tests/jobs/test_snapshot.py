"""Tests of runlog._jobs.snapshot: which files of a source directory a submitted run gets, and the size cap."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from job_helpers import write

import runlog
from runlog import Experiment, ScriptRunConfig
from runlog._errors import SnapshotTooLargeError
from runlog._jobs.snapshot import DEFAULT_LIMIT_MB, scan, snapshot_limit


def test_snapshot_limit_reads_megabytes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNLOG_SNAPSHOT_MAX_MB", raising=False)
    assert snapshot_limit() == DEFAULT_LIMIT_MB * 1024 * 1024
    monkeypatch.setenv("RUNLOG_SNAPSHOT_MAX_MB", "0.5")
    assert snapshot_limit() == 512 * 1024
    monkeypatch.setenv("RUNLOG_SNAPSHOT_MAX_MB", "lots")
    with pytest.raises(ValueError, match="RUNLOG_SNAPSHOT_MAX_MB must be a number of megabytes"):
        snapshot_limit()


def test_a_source_directory_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    script = write(tmp_path / "train.py", "print(1)\n")
    with pytest.raises(NotADirectoryError, match="pass the folder that holds your script"):
        scan(script)
    with pytest.raises(NotADirectoryError):
        scan(tmp_path / "missing")


def test_the_cap_counts_every_file_and_names_the_largest_entries(tmp_path: Path) -> None:
    write(tmp_path / "src" / "train.py", "x" * 10)
    (tmp_path / "src" / "data").mkdir()
    (tmp_path / "src" / "data" / "a.bin").write_bytes(b"\0" * 600)
    (tmp_path / "src" / "data" / "b.bin").write_bytes(b"\0" * 600)
    assert scan(tmp_path / "src", limit=1210).size == 1210  # at the cap is fine
    with pytest.raises(SnapshotTooLargeError, match=r"Largest entries: data \(0\.0 MB\), train\.py") as info:
        scan(tmp_path / "src", limit=1209)
    assert (info.value.size, info.value.limit) == (1210, 1209)


def test_the_top_level_outputs_only_and_symlinked_folders_are_left_out(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "outputs" / "model.pkl", "old")
    write(src / "pkg" / "outputs" / "keep.txt", "a package's own outputs folder")
    write(tmp_path / "elsewhere" / "big.bin", "x")
    os.symlink(tmp_path / "elsewhere", src / "linked")
    assert sorted(scan(src).files) == ["pkg/outputs/keep.txt"]


def test_copy_to_recreates_the_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "train.py", "print(1)\n")
    write(src / "lib" / "util.py", "X = 1\n")
    write(src / ".gitignore", "*.log\n")
    write(src / "run.log", "ignored\n")
    snap = scan(src)
    snap.copy_to(tmp_path / "copy")
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == [".gitignore", "lib/util.py", "train.py"]
    assert (tmp_path / "copy" / "lib" / "util.py").read_text() == "X = 1\n"


def test_snapshot_respects_gitignore_runlogignore_and_skips_the_store(tmp_path: Path) -> None:
    """Ignore files (nested, negated) decide the snapshot; .git, __pycache__, outputs/ and the store are left out."""
    from runlog._jobs.snapshot import scan

    src = tmp_path / "src"
    for name in [
        "train.py",
        "data/big.csv",
        "data/keep.csv",
        "sub/a.log",
        "sub/b.py",
        "sub/deep/c.tmp",
        ".git/HEAD",
        "__pycache__/x.pyc",
        "outputs/old.pkl",
        "store/store.json",
        "notes.md",
    ]:
        write(src / name, "x")
    write(src / ".gitignore", "data/\n*.log\n")
    write(src / ".runlogignore", "notes.md\n")
    write(src / "sub/.gitignore", "*.tmp\n!a.log\n")
    snap = scan(src, exclude=[src / "store"])
    assert sorted(snap.files) == [".gitignore", ".runlogignore", "sub/.gitignore", "sub/a.log", "sub/b.py", "train.py"]
    assert snap.size == sum(p.stat().st_size for p in snap.files.values())


def test_snapshot_size_cap_gives_a_clear_error(exp: Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source directory above the cap (RUNLOG_SNAPSHOT_MAX_MB) is refused before any run is created."""
    write(Path("train.py"), "print('hi')\n")
    Path("weights.bin").write_bytes(b"\0" * 300_000)
    monkeypatch.setenv("RUNLOG_SNAPSHOT_MAX_MB", "0.1")
    with pytest.raises(
        runlog.SnapshotTooLargeError, match=r"weights.bin \(0.3 MB\).*\.runlogignore.*RUNLOG_SNAPSHOT_MAX_MB"
    ) as info:
        exp.submit(ScriptRunConfig(source_directory=".", script="train.py"))
    assert isinstance(info.value, ValueError) and info.value.size > info.value.limit
    assert list(exp.get_runs()) == []
