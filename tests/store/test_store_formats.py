"""Older store formats are read without loss: a format 2 store written by the format 2 writer
(``tests/data/store-format-2``, see ``tests/data/make_store_format_2.py``) reads back through every
reader exactly as it was logged, next to runs of format 3 in the same store."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from _repo import DATA

import runlog
from runlog._store import RunReader, layout
from runlog._store.latest import LatestValues

EXPECTED: dict[str, Any] = json.loads((DATA / "store-format-2.expected.json").read_text())


@pytest.fixture()
def old_store(tmp_path: Path) -> Path:
    """A copy of the checked-in format 2 store (opening a store raises its store.json's format)."""
    store = tmp_path / "store-format-2"
    shutil.copytree(DATA / "store-format-2", store)
    return store


def _expected_metrics() -> dict[str, Any]:
    metrics = dict(EXPECTED["metrics"])
    metrics["nan"] = float("nan")
    return metrics


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return type(got) is type(want) and got == want


def test_the_fixture_is_format_2_with_points_and_names_files() -> None:
    """The fixture really is what the format 2 writer wrote: format 2 records, unchecked points records
    (bytes 5-7 zero) and a names file."""
    store = DATA / "store-format-2"
    assert json.loads((store / layout.STORE_RECORD).read_text())["format"] == 2
    events = next((store / "experiments" / "fixture" / "runs").iterdir()) / layout.EVENTS_DIR
    points = next(events.glob("*" + layout.POINTS_SUFFIX)).read_bytes()
    assert len(points) % 32 == 0 and len(points) >= 32 * 14
    assert all(points[i * 32 + 5 : i * 32 + 8] == b"\0\0\0" for i in range(len(points) // 32))
    assert list(events.glob("*.names.jsonl"))


def test_a_format_2_store_reads_back_without_loss_through_the_api(old_store: Path) -> None:
    """get_metrics, histories with their steps, tags, properties, status and name of the format 2 run are what
    was logged; the store is raised to format 3, the run keeps its files as they were."""
    ws = runlog.Workspace(old_store)
    assert json.loads((old_store / layout.STORE_RECORD).read_text())["format"] == layout.FORMAT_VERSION == 3
    run = ws.get_run(EXPECTED["run_id"])
    got = run.get_metrics()
    want = _expected_metrics()
    assert set(got) == set(want)
    for name, value in want.items():
        if isinstance(value, list) and name not in ("fib",):
            assert len(got[name]) == len(value) and all(map(_same, got[name], value)), name
        elif isinstance(value, float) and math.isnan(value):
            assert _same(got[name], value), name
        else:
            assert got[name] == value and type(got[name]) is type(value), name
    assert [p.step for p in run.get_metric_history("loss")] == EXPECTED["loss_steps"]
    assert run.get_tags() == EXPECTED["tags"] and run.get_properties() == EXPECTED["properties"]
    assert run.get_status() == EXPECTED["status"] and run.display_name == EXPECTED["display_name"]


def test_a_format_2_run_reads_the_same_in_the_viewer_the_uploader_and_latest_values(old_store: Path) -> None:
    """The viewer's query layer, the uploader's event iterator and the latest values read the format 2 run's
    points exactly as the API does."""
    from runlog._upload._reading import iter_metric_events
    from runlog.ui.query import StoreQuery

    run_dir = next((old_store / "experiments" / "fixture" / "runs").iterdir())
    series = StoreQuery(old_store).series(EXPECTED["run_id"], "loss", points=1000)
    assert series["y"] == EXPECTED["metrics"]["loss"] and series["x"] == EXPECTED["loss_steps"]
    numbers = [(n, v) for k, n, v in iter_metric_events(run_dir) if k == "s" and n in ("loss", "acc", "epochs")]
    assert numbers == [("loss", v) for v in EXPECTED["metrics"]["loss"]] + [("acc", 0.75), ("epochs", 3)]
    latest = LatestValues().of(run_dir)
    assert latest["loss"][0] == EXPECTED["metrics"]["loss"][-1] and latest["converged"][0] is True
    assert [e[:3] for e in RunReader(run_dir).metric_events() if e[1] == "phase"] == [["s", "phase", "done"]]


def test_runs_of_format_2_and_3_side_by_side(old_store: Path) -> None:
    """A format 3 run logged into the old store reads back, and the format 2 run next to it is unchanged
    (each points file is read by its own format's rules); the runs listing shows both."""
    ws = runlog.Workspace(old_store)
    exp = runlog.Experiment(ws, "fixture")
    new = exp.start_logging(outputs=None)
    for i in range(5):
        new.log("loss", i * 0.5, step=i)
    new.complete()
    assert json.loads((new.path / layout.RUN_RECORD).read_text())["format"] == 3
    points = next((new.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX)).read_bytes()
    assert all(points[i * 32 + 7] & 0x80 for i in range(5))  # checked records
    assert ws.get_run(new.id).get_metrics() == {"loss": [0.0, 0.5, 1.0, 1.5, 2.0]}
    assert ws.get_run(EXPECTED["run_id"]).get_metrics()["loss"] == EXPECTED["metrics"]["loss"]
    assert {r.id for r in exp.get_runs()} == {new.id, EXPECTED["run_id"]}


def test_zero_fill_in_a_format_2_points_file_is_still_dropped(old_store: Path) -> None:
    """A format 2 points file (no checks) keeps format 2's damage rules: a zeroed record is not served."""
    run_dir = next((old_store / "experiments" / "fixture" / "runs").iterdir())
    points = next((run_dir / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))
    data = bytearray(points.read_bytes())
    data[2 * 32 : 3 * 32] = bytes(32)
    points.write_bytes(bytes(data))
    loss = runlog.Workspace(old_store).get_run(EXPECTED["run_id"]).get_metrics()["loss"]
    assert loss == EXPECTED["metrics"]["loss"][:2] + EXPECTED["metrics"]["loss"][3:]
