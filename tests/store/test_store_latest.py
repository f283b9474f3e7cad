"""runlog._store.latest: the last logged value of each metric, read incrementally, equals a full read."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runlog
from runlog._store import RunReader
from runlog._store.latest import LatestValues, _ProcessTail


def _last_by_full_read(run: runlog.Run) -> dict[str, Any]:
    columns = RunReader(run.path).metric_columns()
    last: dict[str, Any] = {}
    for kind, name, value, step in zip(columns.kinds, columns.names, columns.values, columns.steps):
        if kind == "s" and type(value) in (float, int, bool):
            last[name] = (value, step)
    return last


values = st.one_of(st.floats(allow_nan=False), st.integers(-(2**70), 2**70), st.booleans(), st.none(), st.text(max_size=3))
events = st.lists(st.tuples(st.sampled_from(["loss", "acc", "lr"]), values, st.one_of(st.none(), st.integers(0, 10))), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(events, min_size=1, max_size=4))
def test_incremental_reads_agree_with_a_full_read(exp: runlog.Experiment, batches: list[list[Any]]) -> None:
    """Whatever is logged between reads (numbers, big ints, bools, None, strings), each read equals a full read."""
    run = exp.start_logging(outputs=False)
    latest = LatestValues()
    for batch in batches:
        for name, value, step in batch:
            run.log(name, value, step=step)
        got = {name: (value, step) for name, (value, step, _) in latest.of(run.path).items()}
        assert got == _last_by_full_read(run)
    run.complete()


def test_values_from_several_processes_and_a_torn_record(exp: runlog.Experiment) -> None:
    """Another process's later value wins; a torn last record is not read until it is whole."""
    run = exp.start_logging(outputs=False)
    run.log("loss", 1.0)
    latest = LatestValues()
    assert latest.of(run.path)["loss"][0] == 1.0
    code = (
        "import runlog, sys; ws = runlog.Workspace(sys.argv[1]); "
        "r = ws.get_run(sys.argv[2]); r.log('loss', 2.0); r.log('acc', 0.5)"
    )
    subprocess.run([sys.executable, "-c", code, str(exp.workspace.store), run.id], check=True, env=os.environ.copy())
    assert latest.of(run.path)["loss"][0] == 2.0 and latest.of(run.path)["acc"][0] == 0.5
    points = next(p for p in (run.path / "events").glob("*.points.bin") if f"-{os.getpid()}-" in p.name)  # this process's
    run.log("loss", 3.0)
    whole = points.read_bytes()
    points.write_bytes(whole[:-5])  # the last record torn
    assert latest.of(run.path)["loss"][0] == 2.0
    points.write_bytes(whole)
    assert latest.of(run.path)["loss"][0] == 3.0
    run.complete()


times = st.one_of(st.floats(0, 2e9), st.integers(0, 2**40), st.just(float("nan")), st.none(), st.booleans())


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(
        st.lists(st.tuples(st.sampled_from(["loss", "acc", "lr", 7]), values, st.one_of(st.none(), st.integers(0, 9)), times), max_size=40),
        min_size=1, max_size=3,
    ),
    in_order=st.booleans(),
)
def test_the_in_order_shortcut_takes_what_the_point_by_point_way_takes(chunks: list[list[Any]], in_order: bool) -> None:
    """``_take`` (the C shortcut where times are in order, else point by point) ends where ``_take_each`` ends,
    over chunk after chunk of any names, values and times (out of order, NaN, None, bools)."""
    fast, slow = _ProcessTail(), _ProcessTail()
    for chunk in chunks:
        if in_order:
            chunk = sorted(chunk, key=lambda p: p[3] if isinstance(p[3], (int, float)) and p[3] == p[3] else 0)
        names, vals, steps, ts = (list(c) for c in zip(*chunk)) if chunk else ([], [], [], [])
        fast._take(names, vals, steps, ts)
        slow._take_each(names, vals, steps, ts)
        assert {k: v[2] for k, v in fast.latest.items()} == {k: v[2] for k, v in slow.latest.items()}
