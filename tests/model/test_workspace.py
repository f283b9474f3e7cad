"""Workspace (store location, config files) and Experiment (names, get-or-create)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import runlog
from runlog import Experiment, Workspace


def test_from_config_without_a_config_file_opens_the_default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """No config and no RUNLOG_STORE: ./runlog-store in the current folder."""
    monkeypatch.delenv("RUNLOG_STORE")
    ws = Workspace.from_config()
    assert ws.store == Path.cwd() / "runlog-store"
    assert (ws.store / "store.json").is_file()


def test_from_config_reads_a_config_file_in_a_parent_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A .runlog/config.json found from the current folder up names the store (relative to it)."""
    monkeypatch.delenv("RUNLOG_STORE")
    project = tmp_path / "project"
    (project / ".runlog").mkdir(parents=True)
    (project / ".runlog" / "config.json").write_text(json.dumps({"store": "my-runs", "name": "team"}))
    (project / "src").mkdir()
    monkeypatch.chdir(project / "src")
    ws = Workspace.from_config()
    assert ws.store == project / "my-runs" and ws.name == "team"


def test_runlog_store_overrides_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """RUNLOG_STORE wins over a config file's store."""
    Path("runlog.json").write_text(json.dumps({"store": "elsewhere"}))
    ws = Workspace.from_config()
    assert ws.store == tmp_path / "store"


def test_a_bad_config_file_is_a_clear_error(tmp_path: Path) -> None:
    """A config file that is not JSON names the file and shows an example."""
    Path("runlog.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"runlog.json.*It must be JSON"):
        Workspace.from_config()


@pytest.mark.parametrize("name", ["has space", "-leading", "", "a" * 256, "slash/name"])
def test_invalid_experiment_names_say_what_is_allowed(ws: Workspace, name: str) -> None:
    """Names outside ^[a-zA-Z0-9][\\w\\-]{0,254}$ are refused with the rule (and a suggestion)."""
    with pytest.raises(runlog.InvalidExperimentName, match="letters, digits, '_' and '-'"):
        Experiment(ws, name)


def test_a_suggestion_is_offered_for_a_fixable_name(ws: Workspace) -> None:
    """A name with spaces gets a corrected suggestion."""
    with pytest.raises(ValueError, match="Try 'my-experiment'"):
        Experiment(ws, "my experiment")


def test_experiments_are_get_or_create_and_listed(ws: Workspace) -> None:
    """Experiment(ws, name) twice is the same experiment; ws.experiments lists them by name."""
    a = Experiment(ws, "exp-a")
    assert Experiment(ws, "exp-a") == a and a.id == Experiment(ws, "exp-a").id
    Experiment(ws, "exp_b")
    assert list(ws.experiments) == ["exp-a", "exp_b"]
    assert [e.name for e in Experiment.list(ws)] == ["exp-a", "exp_b"]
    with pytest.raises(runlog.ExperimentNotFound, match="Did you mean exp-a"):
        Experiment.from_name(ws, "exp-x")


def test_experiment_needs_a_workspace() -> None:
    """Passing something else than a Workspace is a TypeError that shows the right call."""
    with pytest.raises(TypeError, match="Workspace.from_config"):
        Experiment("not a workspace", "x")  # type: ignore[arg-type]


def test_an_experiment_name_with_a_trailing_newline_is_refused() -> None:
    """'name\\n' is not a valid experiment name (a regex '$' would accept it)."""
    with pytest.raises(runlog.InvalidExperimentName, match="must start with a letter"):
        Experiment(Workspace.from_config(), "mnist\n")


def test_from_config_with_a_path_that_does_not_exist_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """from_config(path) with a path that does not exist raises instead of silently opening the default store."""
    monkeypatch.delenv("RUNLOG_STORE")
    with pytest.raises(FileNotFoundError, match="no-such-config.json"):
        Workspace.from_config(str(tmp_path / "no-such-config.json"))
    assert not (Path.cwd() / "runlog-store").exists()


def test_the_public_names_are_the_run_models_own() -> None:
    from runlog._model import workspace

    assert runlog.Workspace is workspace.Workspace and runlog.Experiment is workspace.Experiment
