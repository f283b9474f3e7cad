"""Experiment.get_runs() answered through the run index: the same runs, in the same order, with the same filters
as reading every run folder (the implementation before the index, kept here as the reference)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import runlog
from runlog._model.run import Run
from runlog._model.workspace import _run_matches
from runlog._store import RunReader, layout


def reference_get_runs(
    exp: runlog.Experiment,
    type: str | None = None,
    tags: str | Mapping[str, str] | None = None,
    properties: str | Mapping[str, str] | None = None,
    include_children: bool = False,
) -> Iterator[Run]:
    """get_runs as it was before the run index: every run folder read, newest (created) first."""
    runs = []
    root = exp.workspace.store / layout.EXPERIMENTS_DIR / exp.name / layout.RUNS_DIR
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (run_dir / layout.RUN_RECORD).is_file():
            continue
        record, _ = RunReader(run_dir).record_or_damage()
        if not include_children and record.get("parent_id"):
            continue
        if type is not None and record.get("run_type") != type:
            continue
        created = record.get("created")
        if created is None:
            created = run_dir.stat().st_mtime
        runs.append((created, run_dir.name))
    runs.sort(reverse=True)
    for _, run_id in runs:
        run = Run(exp, run_id)
        if _run_matches(run, tags, properties):
            yield run


@pytest.fixture
def mixed(tmp_path: Path) -> runlog.Experiment:
    """An experiment with top-level and child runs, two run types, tags, properties, a run whose own tag is
    mlflow.runName, a run being created (no run.json) and one whose run.json is damaged."""
    ws = runlog.Workspace(tmp_path / "store")
    exp = runlog.Experiment(ws, "mixed")
    a = exp.start_logging(outputs=False, snapshot_directory=None, display_name="a")
    a.set_tags({"team": "ml", "size": "big"})
    a.add_properties({"lr": "0.1"})
    child = a.child_run("child-of-a")
    child.set_tags({"team": "ml"})
    child.complete()
    a.complete()
    b = exp.start_logging(outputs=False, snapshot_directory=None)
    b.set_tags({"team": "infra", "mlflow.runName": "custom"})
    b.add_properties({"lr": "0.01"})
    b.complete()
    script = Run._create(exp, run_type="script", display_name="scripted")
    script.set_tags({"team": "ml"})
    script.complete()
    damaged = exp.start_logging(outputs=False, snapshot_directory=None)
    damaged.complete()
    (damaged.path / layout.RUN_RECORD).write_text("{not json")
    (exp.workspace.store / layout.EXPERIMENTS_DIR / "mixed" / layout.RUNS_DIR / "mixed_being_made").mkdir()
    return exp


FILTERS: list[dict[str, Any]] = [
    {},
    {"include_children": True},
    {"type": "script"},
    {"type": "local", "include_children": True},
    {"tags": "team"},
    {"tags": {"team": "ml"}},
    {"tags": {"team": "ml"}, "include_children": True},
    {"tags": {"team": "ml", "size": None}},
    {"tags": "mlflow.runName"},
    {"tags": {"mlflow.runName": "custom"}},
    {"properties": {"lr": "0.01"}},
    {"properties": "lr", "tags": {"team": "infra"}},
    {"tags": "nobody"},
]


@pytest.mark.parametrize("kwargs", FILTERS, ids=[repr(f) for f in FILTERS])
def test_get_runs_through_the_index_matches_reading_every_run(mixed: runlog.Experiment, kwargs: dict[str, Any]) -> None:
    """Same runs in the same order for every filter, on a cold index and again on a warm one."""
    expected = [r.id for r in reference_get_runs(mixed, **kwargs)]
    assert [r.id for r in mixed.get_runs(**kwargs)] == expected
    assert [r.id for r in mixed.get_runs(**kwargs)] == expected  # the index is warm now


def test_get_runs_uses_the_run_index_and_streams(mixed: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """get_runs is a generator over the index's rows: an unchanged run's record is not read again, and the
    runs come a few at a time without building every Run first; a change to a run shows at once."""
    assert len(list(mixed.get_runs(include_children=True))) == 5  # the index now holds every run
    reads: list[Path] = []
    real = RunReader.record_or_damage

    def counting(self: RunReader) -> Any:
        reads.append(self.run_dir)
        return real(self)

    monkeypatch.setattr(RunReader, "record_or_damage", counting)
    made: list[str] = []
    real_init = Run.__init__

    def tracking(self: Run, experiment: Any, run_id: str, *args: Any, **kw: Any) -> None:
        made.append(run_id)
        real_init(self, experiment, run_id, *args, **kw)

    monkeypatch.setattr(Run, "__init__", tracking)
    runs = mixed.get_runs(include_children=True)
    first = next(runs)
    assert made == [first.id]  # one Run made so far
    assert {p.name for p in reads} <= {first.id}  # no other run's record read: the listing came from the index
    assert len(list(itertools.chain([first], runs))) == 5
    newest = runlog.Experiment(mixed.workspace, "mixed").start_logging(outputs=False, snapshot_directory=None)
    newest.set_tags({"late": "yes"})
    assert [r.id for r in mixed.get_runs(tags="late")] == [newest.id]
    newest.complete()


def test_get_runs_of_a_large_experiment_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More runs than a page: every run once, newest first, across pages."""
    import runlog._model.workspace as workspace_module

    monkeypatch.setattr(workspace_module, "GET_RUNS_PAGE", 3)
    exp = runlog.Experiment(runlog.Workspace(tmp_path / "store"), "many")
    made = []
    for _ in range(8):
        run = exp.start_logging(outputs=False, snapshot_directory=None)
        run.complete()
        made.append(run.id)
        os.utime(run.path / layout.RUN_RECORD)  # (creation order is what counts, not file times)
    assert [r.id for r in exp.get_runs()] == [r.id for r in reference_get_runs(exp)]
    assert sorted(r.id for r in exp.get_runs()) == sorted(made)


def test_a_run_that_cannot_be_read_is_placed_by_its_folder_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose row could not be built (listed as damaged, no creation time) still comes once, where its
    folder's time puts it among the runs the index orders by creation."""
    from runlog._store import search as search_module

    exp = runlog.Experiment(runlog.Workspace(tmp_path / "store"), "dated")
    made = []
    for _ in range(5):
        run = exp.start_logging(outputs=False, snapshot_directory=None)
        run.complete()
        made.append(run)
    broken = made[1]
    real = search_module.run_row

    def failing(run_dir: Path, latest: Any = None) -> Any:
        if run_dir.name == broken.id:
            raise OSError(24, "Too many open files")
        return real(run_dir, latest)

    monkeypatch.setattr(search_module, "run_row", failing)
    os.utime(broken.path, (4_000_000_000, 4_000_000_000))  # a folder time after every creation: first
    assert [r.id for r in exp.get_runs()] == [broken.id] + [r.id for r in made[::-1] if r is not broken]
    os.utime(broken.path, (1, 1))  # before every creation: last
    assert [r.id for r in exp.get_runs()] == [r.id for r in made[::-1] if r is not broken] + [broken.id]
