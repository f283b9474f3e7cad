"""runlog.cli.common: finding a store and a run (a unique id prefix or `latest`), and run content shown as data."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from cli_helpers import fail, invoke
from click.testing import CliRunner

from runlog import Experiment, Run, Workspace
from runlog.cli import main
from runlog.cli.common import _cut, _existing_workspace, _fmt, _printable, _status, resolve_run_id, short_ids


def test_an_unknown_run_id_suggests_close_matches(seeded: Run) -> None:
    """A mistyped run id fails with 'Did you mean <id>?'."""
    result = CliRunner().invoke(main, ["show", seeded.id[:-1] + "x"])
    assert result.exit_code == 1
    assert f"Did you mean {seeded.id}" in result.output


def test_a_unique_prefix_or_latest_names_a_run_in_every_command(
    exp: Experiment, three: list[Run], tmp_path: Path
) -> None:
    """show, metrics, files, logs and download take a unique prefix or `latest` as RUN."""
    assert "run xyz" in invoke("show", "xy")
    assert json.loads(invoke("metrics", "abc-2", "--format", "json"))["loss"] == [0.5, 0.25]
    assert json.loads(invoke("metrics", "x", "--format", "json"))["loss"] == [1 / 3, 0.5 / 3]
    latest = invoke("show", "latest", "--format", "json")
    assert json.loads(latest)["runId"] == max(three, key=lambda r: r._state().start_time or 0).id
    for command in (["files", "x"], ["logs", "x"], ["download", "x", "--output", str(tmp_path / "d")]):
        invoke(*command)


def test_an_ambiguous_prefix_lists_the_candidates(three: list[Run]) -> None:
    """A prefix of several runs is an error naming each of them; an unknown one suggests close ids."""
    out = fail("show", "abc")
    assert "ambiguous" in out and "abc-1" in out and "abc-2" in out and "xyz" not in out
    assert "no run 'q'" in fail("show", "q")


def test_short_ids_are_unique_prefixes() -> None:
    """short_ids cuts each id to the shortest unique prefix (at least 8 characters), and keeps an id whole
    when its prefix would be another run's whole id."""
    every = ["exp_1700000000_aaaa", "exp_1700000000_aabb", "exp_1700000999_cccc", "short", "shorter"]
    cut = short_ids(every, every)
    assert cut["exp_1700000000_aaaa"] == "exp_1700000000_aaa"
    assert cut["exp_1700000999_cccc"] == "exp_17000009"
    assert cut["short"] == "short" and cut["shorter"] == "shorter"
    assert len(set(cut.values())) == len(every)


def test_a_folder_without_a_store_is_an_error_and_stays_empty(tmp_path: Path) -> None:
    """`--store` naming a folder that holds no store is an error saying so, for the CLI and `runlog ui`;
    nothing is created."""
    missing, empty = tmp_path / "typo", tmp_path / "empty"
    empty.mkdir()
    for folder in (missing, empty):
        for args in (["runs"], ["experiments"], ["show", "latest"], ["ui", "--port", "0"]):
            out = fail(*args, "--store", str(folder))
            assert "store" in out and str(folder) in out, out
    assert not missing.exists() and list(empty.iterdir()) == []


def test_control_characters_are_shown_not_obeyed() -> None:
    assert _printable("a\x1b[31mred\nb\x7f") == "a\\x1b[31mred\\nb\\x7f"
    assert _printable("plain é") == "plain é"


def test_long_values_are_cut_with_a_hint() -> None:
    assert _cut("short") == "short"
    cut = _cut("x" * 250)
    assert cut.startswith("x" * 200 + "…") and "50 more characters" in cut and "--format json" in cut
    assert _cut("y" * 12, 10, hint=False) == "y" * 10 + "…"


def test_values_are_formatted_compactly() -> None:
    assert _fmt(0.123456789) == "0.123457" and _fmt(float("nan")) == "nan" and _fmt(float("inf")) == "inf"
    assert _fmt([1, 2]) == "[1, 2]" and _fmt(7) == "7"
    long = _fmt(list(range(100)))
    assert len(long) == 60 and long.endswith("...")


def test_a_status_is_styled_by_what_it_means() -> None:
    assert (_status("Failed").style, _status("Completed").style, _status("Weird").style) == ("bold red", "green", "")
    assert _status("Running", " (damaged)").plain == "Running (damaged)"


def test_resolve_run_id_takes_an_exact_id_latest_or_a_prefix(ws: Workspace, three: list[Run]) -> None:
    assert resolve_run_id(ws, "abc-1") == "abc-1"
    assert resolve_run_id(ws, "x") == "xyz"
    assert resolve_run_id(ws, "latest") == max(three, key=lambda r: r._state().start_time or 0).id


def test_latest_in_an_empty_store_and_a_long_candidate_list(ws: Workspace, exp: Experiment) -> None:
    with pytest.raises(click.ClickException, match="no runs yet"):
        resolve_run_id(ws, "latest")
    for i in range(12):
        Run._start(exp, run_id=f"many-{i:02d}", outputs=None).complete()
    with pytest.raises(click.ClickException) as info:
        resolve_run_id(ws, "many")
    message = info.value.message
    assert "12 runs start with it" in message and "... and 2 more" in message
    assert message.count("many-") == 10


def test_a_file_named_as_the_store_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(click.ClickException, match="is not a folder"):
        _existing_workspace(tmp_path / "file")
