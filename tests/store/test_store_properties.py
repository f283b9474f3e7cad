"""Property-based tests (issue 17): write -> read round trips with arbitrary names and values, and every
reader (the Run API, the CLI, the viewer's query layer) over randomly damaged stores.

Bounded and deterministic in `make test` (hypothesis profile "ci", see conftest.py); `make fuzz`
runs them with many more random examples.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _repo import DATA
from click.testing import CliRunner
from hypothesis import given, note
from hypothesis import strategies as st

import runlog
from runlog._store import layout, reader
from runlog.cli import main
from runlog.ui.query import MetricNotFound, StoreQuery

names = st.text(min_size=1, max_size=40)
keys = st.text(min_size=1, max_size=40)
scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.booleans(),
    st.none(),
    st.text(max_size=60),
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@pytest.fixture()
def fresh_store() -> Iterator[Any]:
    """A factory of new empty stores (one per hypothesis example), removed after the test."""
    root = Path(tempfile.mkdtemp(prefix="runlog-prop-"))
    count = [0]

    def make() -> runlog.Workspace:
        count[0] += 1
        return runlog.Workspace(root / f"s{count[0]}")

    yield make
    shutil.rmtree(root, ignore_errors=True)


@given(values=st.dictionaries(names, st.lists(scalars, min_size=1, max_size=5), min_size=1, max_size=5))
def test_scalars_round_trip(fresh_store: Any, values: dict[str, list[Any]]) -> None:
    """Any metric name and any scalar run.log accepts reads back exactly, in order and with its type."""
    run = runlog.Experiment(fresh_store(), "prop").start_logging(outputs=None)
    for name, series in values.items():
        for v in series:
            run.log(name, v)
    run.complete()
    got = runlog.Run(run.experiment, run.id).get_metrics()
    assert set(got) == set(values)
    for name, series in values.items():
        read = got[name] if len(series) > 1 else [got[name]]
        assert len(read) == len(series) and all(_same(a, b) for a, b in zip(read, series)), (name, read, series)


@given(
    tags=st.dictionaries(keys, st.text(max_size=40), max_size=5),
    props=st.dictionaries(keys, st.text(max_size=40), max_size=5),
    rows=st.lists(st.dictionaries(keys, scalars, min_size=1, max_size=3), max_size=3),
)
def test_tags_properties_and_rows_round_trip(
    fresh_store: Any, tags: dict[str, str], props: dict[str, str], rows: list[dict[str, Any]]
) -> None:
    """Any non-empty str key and str value of tags and properties, and any row, reads back as written."""
    run = runlog.Experiment(fresh_store(), "prop").start_logging(outputs=None)
    run.set_tags(tags)
    run.add_properties(props)
    for row in rows:
        run.log_row("table", **row)
    run.complete()
    again = runlog.Run(run.experiment, run.id)
    assert again.get_tags() == tags and again.get_properties() == props
    if rows:
        table = again.get_metrics()["table"]
        columns = {c for r in rows for c in r}
        assert set(table) == columns


# -- damaged stores ---------------------------------------------------------------------------------

LOGGED = [float(i) + 0.5 for i in range(200)]


def _seed(ws: runlog.Workspace) -> runlog.Run:
    exp = runlog.Experiment(ws, "fuzz")
    other = exp.start_logging(outputs=None)
    other.log("acc", 0.25)
    other.complete()
    run = exp.start_logging(outputs=None)
    run.tag("k", "v")
    for i, v in enumerate(LOGGED):
        run.log("loss", v, step=i)
        if i % 40 == 0:
            run.log("phase", f"p{i}")
            run.log_row("rows", i=i, v=v)
    run.log_list("list", [1, 2, 3])
    run.complete()
    return run


def _targets(run: runlog.Run) -> list[Path]:
    events = run.path / layout.EVENTS_DIR
    return [run.path / layout.RUN_RECORD, *sorted(p for p in events.iterdir() if p.is_file())]


damage = st.tuples(
    st.sampled_from(["bytes", "zero", "truncate", "prefix", "append"]),
    st.integers(min_value=0, max_value=10),  # which file
    st.floats(min_value=0, max_value=1),  # where
    st.integers(min_value=1, max_value=4096),  # how much
    st.binary(min_size=1, max_size=64),  # what
)


def _damage(path: Path, how: str, where: float, size: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    at = int(where * len(raw))
    if how == "bytes":  # arbitrary bytes over arbitrary bytes
        raw[at : at + len(data)] = data
    elif how == "zero":  # a lost block: zeros over whole 512-byte sectors
        start = at // 512 * 512
        raw[start : start + max(512, size // 512 * 512)] = bytes(len(raw[start : start + max(512, size // 512 * 512)]))
    elif how == "truncate":
        del raw[at:]
    elif how == "prefix":  # bytes lost at the start (a misaligned file)
        del raw[: min(size % 31 + 1, len(raw))]
    else:
        raw += data
    path.write_bytes(bytes(raw))


def _readers(ws: runlog.Workspace, run_id: str) -> list[Any]:
    """Every reader over the store; each returns data or raises runlog's own error (or a lookup miss)."""
    values: list[Any] = []
    exp = runlog.Experiment(ws, "fuzz")
    try:
        run = runlog.Run(exp, run_id)
    except runlog.RunlogError:
        run = None
    if run is not None:
        metrics = run.get_metrics()
        run.get_tags(), run.get_properties(), run.get_status(), run.get_details()
        loss = metrics.get("loss", [])
        values += loss if isinstance(loss, list) else [loss]
        values += [p.value for p in run.get_metric_history("loss")]
    list(exp.get_runs(include_children=True))
    for args in (["runs"], ["experiments"], ["show", run_id], ["metrics", run_id], ["metrics", run_id, "--format", "json"]):
        result = CliRunner().invoke(main, [*args, "--store", str(ws.store)])
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.output)
        assert "Traceback" not in result.output
    q = StoreQuery(ws.store)
    q.runs()
    try:
        page = q.run(run_id)
    except runlog.RunlogError:
        return values
    for metric in page["metrics_list"]:
        if metric.get("kind") in ("s", "l"):
            try:
                series = q.series(run_id, metric["name"], points=10_000)
            except MetricNotFound:
                continue
            if metric["name"] == "loss":
                values += series["y"]
    q.files(run_id)
    return values


@given(damages=st.lists(damage, min_size=1, max_size=3))
def test_readers_survive_random_damage(fresh_store: Any, damages: list[tuple[str, int, float, int, bytes]]) -> None:
    """Any damage to a run's record and events files: the API, the CLI and the viewer return data or runlog's own
    error (never another exception, never a traceback), and the other run of the store still reads whole."""
    ws = fresh_store()
    run = _seed(ws)
    files = _targets(run)
    for how, which, where, size, data in damages:
        path = files[which % len(files)]
        note(f"{how} {path.name} at {where:.3f} size {size}")
        _damage(path, how, where, size, data)
    reader._reported.clear()
    _readers(ws, run.id)
    other = next(r for r in runlog.Experiment(ws, "fuzz").get_runs() if r.id != run.id)
    assert other.get_metrics() == {"acc": 0.25}


@given(damages=st.lists(damage.filter(lambda d: d[0] != "bytes" and d[0] != "append"), min_size=1, max_size=3))
def test_lost_blocks_and_truncation_never_invent_points(fresh_store: Any, damages: list[tuple[str, int, float, int, bytes]]) -> None:
    """Zero-filled sectors, truncation and bytes lost at a file's start (what a crash or a power loss does), in
    any order, lose points but never serve one that was not logged, through the API or the viewer. (Zeros over
    part of a record, as in a file that lost bytes at its start first, fail the record's check.)"""
    ws = fresh_store()
    run = _seed(ws)
    files = _targets(run)
    for how, which, where, size, data in damages:
        path = files[which % len(files)]
        note(f"{how} {path.name} at {where:.3f} size {size}")
        _damage(path, how, where, size, data)
    reader._reported.clear()
    values = _readers(ws, run.id)
    assert set(values) <= set(LOGGED)


points_damage = st.tuples(
    st.sampled_from(["bytes", "zero-any", "truncate", "prefix", "insert"]),
    st.floats(min_value=0, max_value=1),  # where
    st.integers(min_value=1, max_value=700),  # how much
    st.binary(min_size=1, max_size=64),  # what
)


@given(damages=st.lists(points_damage, min_size=1, max_size=4))
def test_damaged_points_records_are_detected_never_served(fresh_store: Any, damages: list[tuple[str, float, int, bytes]]) -> None:
    """Any damage to a points file (arbitrary bytes over records, zeros over any byte range, truncation, bytes
    lost at its start, bytes inserted: misalignment), in any order: every reader serves only points that were
    logged (each record's check fails otherwise), and every record the damage did not touch is still served
    by the API when the file's start is intact."""
    ws = fresh_store()
    run = _seed(ws)
    path = next((run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))
    raw = bytearray(path.read_bytes())
    touched: set[int] = set()
    shifted = False
    for how, where, size, data in damages:
        at = int(where * len(raw))
        note(f"{how} at {at} size {size} ({len(data)} bytes)")
        if how == "bytes":
            raw[at : at + len(data)] = data
            touched.update(range(at // 32, (at + len(data) - 1) // 32 + 1))
        elif how == "zero-any":
            raw[at : at + size] = bytes(len(raw[at : at + size]))
            touched.update(range(at // 32, (at + size - 1) // 32 + 1))
        elif how == "truncate":
            del raw[at:]
            touched.update(range(at // 32, len(LOGGED) + 10))
        elif how == "prefix":
            del raw[: size % 31 + 1]
            shifted = True
        else:
            raw[at:at] = data
            shifted = True
    path.write_bytes(bytes(raw))
    reader._reported.clear()
    values = _readers(ws, run.id)
    assert set(values) <= set(LOGGED)
    if not shifted:
        got = runlog.Run(runlog.Experiment(ws, "fuzz"), run.id).get_metric_history("loss")
        assert len(got) >= len(LOGGED) - len(touched)


FORMAT_2 = DATA / "store-format-2"


@given(damages=st.lists(damage.filter(lambda d: d[0] in ("zero", "truncate")), min_size=1, max_size=3))
def test_a_damaged_format_2_points_file_invents_nothing(fresh_store: Any, damages: list[tuple[str, int, float, int, bytes]]) -> None:
    """The format 2 store written by the old writer, its points file (no checks) zero-filled by sectors or
    truncated: readers serve only values that were logged (format 2's rules drop zeroed records)."""
    import json

    expected = json.loads((FORMAT_2.parent / "store-format-2.expected.json").read_text())
    store = fresh_store().store
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(FORMAT_2, store)
    run_dir = next((store / "experiments" / "fixture" / "runs").iterdir())
    points = next((run_dir / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))
    for how, _which, where, size, data in damages:
        _damage(points, how, where, size, data)
    reader._reported.clear()
    metrics = runlog.Workspace(store).get_run(expected["run_id"]).get_metrics()
    loss = metrics.get("loss", [])
    assert set(loss if isinstance(loss, list) else [loss]) <= set(expected["metrics"]["loss"])
    for name in ("acc", "epochs", "converged"):
        assert metrics.get(name, expected["metrics"][name]) == expected["metrics"][name]
