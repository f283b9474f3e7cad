"""runlog.cli.submit: `runlog submit`, a script run as a run of an experiment, ending with the script's exit status."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from runlog import Workspace
from runlog.cli.submit import _pairs, exit_code_of, submit


def test_the_exit_status_is_the_script_s() -> None:
    assert exit_code_of({"status": "Completed"}) == 0
    assert exit_code_of({"status": "Canceled"}) == 143
    assert exit_code_of({"status": "Failed", "error": {"error": {"exit_code": 3}}}) == 3
    assert (
        exit_code_of({"status": "Failed", "error": {"error": {"exit_code": 0}}}) == 1
    )  # failed, yet 0: still a failure
    assert exit_code_of({"status": "Failed", "error": "text"}) == 1 and exit_code_of({}) == 1


def test_key_value_options() -> None:
    assert _pairs(("A=1", "B=x=y", "C="), "--env") == {"A": "1", "B": "x=y", "C": ""}
    for bad in ("novalue", "=v"):
        with pytest.raises(click.BadParameter, match="KEY=VALUE"):
            _pairs((bad,), "--tag")


def test_a_missing_script_or_one_outside_the_source_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    missing = CliRunner().invoke(submit, [str(tmp_path / "nope.py"), "--store", str(store)])
    assert missing.exit_code == 2 and "no such file" in missing.output
    (tmp_path / "src").mkdir()
    (tmp_path / "train.py").write_text("")
    outside = CliRunner().invoke(
        submit, [str(tmp_path / "train.py"), "-s", str(tmp_path / "src"), "--store", str(store)]
    )
    assert outside.exit_code == 2 and "is not inside the source directory" in outside.output
    bad_env = CliRunner().invoke(submit, [str(tmp_path / "train.py"), "--env", "X", "--store", str(store)])
    assert bad_env.exit_code == 2 and "KEY=VALUE" in bad_env.output


def test_a_script_runs_as_a_run_and_its_exit_status_is_the_command_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run is named after the script, gets its arguments after `--`, tags and environment; the command
    exits with the script's status."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "my train.py").write_text(
        "import os, sys\nprint('args', sys.argv[1:], os.environ['GREETING'])\nsys.exit(3)\n"
    )
    monkeypatch.chdir(src)
    store = tmp_path / "store"
    result = CliRunner().invoke(
        submit, ["my train.py", "--env", "GREETING=hi", "--tag", "k=v", "--store", str(store), "--", "--alpha", "0.5"]
    )
    assert result.exit_code == 3, result.output
    (run,) = Workspace(store).experiments["my-train"].get_runs()
    assert run.get_details()["status"] == "Failed" and run.get_tags()["k"] == "v"
    log = (run.path / "files" / "logs" / "driver_log.txt").read_text()
    assert "args ['--alpha', '0.5'] hi" in log
