"""The viewer's JSON API (runlog.ui), through a real uvicorn server on 127.0.0.1, and its read side."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ui_helpers import serve

import runlog
from runlog._errors import RunNotFound
from runlog._store import layout
from runlog.ui import query as query_module
from runlog.ui.query import StoreQuery


def _get(seeded: dict[str, Any], path: str, **params: Any) -> Any:
    resp = seeded["http"].get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _error(seeded: dict[str, Any], path: str, status: int, **params: Any) -> str:
    resp = seeded["http"].get(path, params=params)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body["error"]) == {"code", "message"}
    return str(body["error"]["message"])


# -- the runs table ---------------------------------------------------------------------


def test_runs_table_has_last_min_max_per_metric(seeded: dict[str, Any]) -> None:
    """Each run row carries last, min and max of every scalar metric, NaN as a string, strings as last only."""
    data = _get(seeded, "/api/runs")
    by_id = {r["id"]: r for r in data["runs"]}
    alpha = by_id[seeded["alpha"].id]
    assert alpha["metrics"]["loss"] == {"kind": "s", "count": 4, "last": 0.5, "min": 0.4, "max": 0.9}
    assert by_id[seeded["beta"].id]["metrics"]["loss"] == {"kind": "s", "count": 3, "last": 0.6, "min": 0.2, "max": 1.2}
    assert alpha["metrics"]["note"]["last"] == "first <b>try</b>"
    assert alpha["metrics"]["note"]["min"] is None
    assert alpha["metrics"]["bad"]["last"] == "NaN"
    assert "roc" not in alpha["metrics"]  # tables are not table columns
    assert alpha["tags"] == {"lr": "0.1", "<img src=x onerror=alert(1)>": "<b>bold</b>"}
    assert alpha["status"] == "Completed" and alpha["duration"] >= 0
    assert seeded["child"].id in by_id and by_id[seeded["child"].id]["parent_id"] == seeded["alpha"].id
    assert {"loss", "acc", "note", "bad"} <= set(data["metric_names"])


def test_runs_filters(seeded: dict[str, Any]) -> None:
    """experiment, status, tag (key or key=value) and q (search) narrow the runs list."""
    ids = lambda **p: {r["id"] for r in _get(seeded, "/api/runs", **p)["runs"]}  # noqa: E731
    assert ids(experiment="cifar") == {seeded["live"].id}
    assert ids(status="Running") == {seeded["live"].id}
    assert ids(tag="lr") == {seeded["alpha"].id, seeded["beta"].id}
    assert ids(tag="lr=0.01") == {seeded["beta"].id}
    assert ids(q="BETA") == {seeded["beta"].id}
    assert ids(q=seeded["alpha"].id[-8:]) == {seeded["alpha"].id}


def test_experiments(seeded: dict[str, Any]) -> None:
    """The experiments list names each experiment with its number of runs (children included)."""
    assert _get(seeded, "/api/experiments")["experiments"] == [
        {"name": "cifar", "runs": 1},
        {"name": "long", "runs": 1},
        {"name": "mnist", "runs": 3},
    ]


# -- one run -------------------------------------------------------------------------------


def test_run_details(seeded: dict[str, Any]) -> None:
    """A run's page data: status, tags, properties, metric list with kinds, images, files, logs, child runs."""
    d = _get(seeded, f"/api/runs/{seeded['alpha'].id}")
    assert d["display_name"] == "alpha" and d["status"] == "Completed" and d["live"] is False
    assert d["properties"] == {"seed": "42"}
    kinds = {m["name"]: m["kind"] for m in d["metrics_list"]}
    assert kinds == {"loss": "s", "acc": "s", "note": "s", "bad": "s", "roc": "table", "sample": "image"}
    roc = next(m for m in d["metrics_list"] if m["name"] == "roc")
    assert roc["columns"] == ["fpr", "tpr", "threshold"] and roc["count"] == 5
    assert [i["name"] for i in d["images"]] == ["sample"]
    assert d["images"][0]["file"].startswith("images/sample_")
    assert {f["name"] for f in d["files"]} == set(seeded["alpha"].get_file_names())
    assert d["logs"] == ["logs/driver_log.txt"]
    assert d["record"]["run_id"] == seeded["alpha"].id
    assert _get(seeded, f"/api/runs/{seeded['live'].id}")["live"] is True
    assert [(c["id"], c["display_name"], c["status"]) for c in d["children"]] == [
        (seeded["child"].id, "alpha-child", "Completed")
    ]
    assert _get(seeded, f"/api/runs/{seeded['child'].id}")["parent_id"] == seeded["alpha"].id


def test_unknown_run_is_a_json_404(seeded: dict[str, Any]) -> None:
    """An unknown run id answers 404 with a message naming it; ids with path tricks too."""
    assert "nope_123" in _error(seeded, "/api/runs/nope_123", 404)
    _error(seeded, "/api/runs/..", 404)
    _error(seeded, "/api/nothing-here", 404)


def test_a_run_page_lists_no_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's page (and a child's, and an unknown id) is found by its id and its children by the run index: no
    listing of a runs folder, whose cost grows with the store (100,000 runs)."""
    import os

    ws = runlog.Workspace(tmp_path / "store")
    parent = runlog.Experiment(ws, "exp_with_underscores").start_logging(outputs=False, snapshot_directory=None)
    child = parent.child_run(name="kid")
    child.complete()
    other = runlog.Experiment(ws, "other").start_logging(outputs=False, snapshot_directory=None)
    parent.complete()
    other.complete()
    for runs_dir in (tmp_path / "store" / "experiments").glob("*/runs"):  # changed a minute ago, not just now
        os.utime(runs_dir, (time.time() - 60, time.time() - 60))
    listed: list[str] = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": listed.append(str(path)) or real(path))
    q = StoreQuery(tmp_path / "store")
    q.runs()  # the index built (it lists the folders once)
    listed.clear()
    page = q.run(parent.id)
    assert [c["id"] for c in page["children"]] == [child.id]
    assert q.run(child.id)["parent_id"] == parent.id and q.run(other.id)["id"] == other.id
    with pytest.raises(RunNotFound):
        q.run("exp_with_underscores_1_deadbeef")
    assert not [p for p in listed if p.endswith("/runs")], listed


# -- charts ----------------------------------------------------------------------------------


def test_series_by_step_and_time(seeded: dict[str, Any]) -> None:
    """A scalar metric comes back as x/y arrays, against step, wall time or time since the run started."""
    rid = seeded["alpha"].id
    s = _get(seeded, f"/api/runs/{rid}/series", name="loss")
    assert (s["x"], s["y"], s["total"], s["downsampled"]) == ([0, 1, 2, 3], [0.9, 0.4, 0.7, 0.5], 4, False)
    t = _get(seeded, f"/api/runs/{rid}/series", name="loss", x="time")
    assert t["y"] == s["y"] and t["x"] == sorted(t["x"]) and t["x"][0] > 1e9
    r = _get(seeded, f"/api/runs/{rid}/series", name="loss", x="relative")
    start = _get(seeded, f"/api/runs/{rid}")["start_time"]
    assert r["x"] == pytest.approx([v - start for v in t["x"]]) and 0 <= r["x"][0] < 60
    rx = r["x"]
    zr = _get(
        seeded, f"/api/runs/{rid}/series", name="loss", x="relative", xmin=(rx[0] + rx[1]) / 2, xmax=(rx[2] + rx[3]) / 2
    )
    assert zr["x"] == pytest.approx(r["x"][1:3])
    z = _get(seeded, f"/api/runs/{rid}/series", name="loss", xmin=1, xmax=2)
    assert (z["x"], z["y"], z["in_range"]) == ([1, 2], [0.4, 0.7], 2)
    nan = _get(seeded, f"/api/runs/{rid}/series", name="bad")
    assert nan["y"] == [None]


def test_series_errors(seeded: dict[str, Any]) -> None:
    """A missing or unknown name, a table name, or a bad x answer 400/404 with a helpful message."""
    rid = seeded["alpha"].id
    assert "name" in _error(seeded, f"/api/runs/{rid}/series", 400)
    assert "loss" in _error(seeded, f"/api/runs/{rid}/series", 404, name="lost")
    _error(seeded, f"/api/runs/{rid}/series", 404, name="roc")
    assert "step" in _error(seeded, f"/api/runs/{rid}/series", 400, name="loss", x="epoch")
    assert "points" in _error(seeded, f"/api/runs/{rid}/series", 400, name="loss", points="many")


def test_table_merges_rows_and_tables(seeded: dict[str, Any]) -> None:
    """log_row rows and log_table columns come back as columns with every row, in order."""
    a = _get(seeded, f"/api/runs/{seeded['alpha'].id}/table", name="roc")
    assert a["columns"] == ["fpr", "tpr", "threshold"] and a["rows"] == 5
    assert a["data"]["fpr"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    b = _get(seeded, f"/api/runs/{seeded['beta'].id}/table", name="roc")
    assert b["data"] == {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.8, 1.0], "threshold": [1.0, 0.5, 0.0]}
    _error(seeded, f"/api/runs/{seeded['beta'].id}/table", 404, name="loss")


# -- files, logs, zip -----------------------------------------------------------------------


def test_files_list_and_content(seeded: dict[str, Any]) -> None:
    """Files are listed with sizes; text shows inline, images as images, anything else downloads."""
    rid = seeded["alpha"].id
    files = {f["name"]: f for f in _get(seeded, f"/api/runs/{rid}/files")["files"]}
    assert files["outputs/model.txt"]["size"] == len("weights 1 2 3\n")
    image = next(n for n in files if n.startswith("images/"))
    assert files[image]["image"] is True
    http = seeded["http"]
    text = http.get(f"/api/runs/{rid}/files/outputs/model.txt")
    assert text.text == "weights 1 2 3\n" and text.headers["content-type"].startswith("text/plain")
    assert text.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in text.headers["content-security-policy"]
    assert http.get(f"/api/runs/{rid}/files/{image}").headers["content-type"] == "image/png"
    html = http.get(f"/api/runs/{rid}/files/outputs/page.html")
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment")
    dl = http.get(f"/api/runs/{rid}/files/outputs/model.txt", params={"download": "1"})
    assert dl.headers["content-disposition"] == 'attachment; filename="model.txt"'
    _error(seeded, f"/api/runs/{rid}/files/outputs/missing.txt", 404)


@pytest.mark.parametrize(
    "name",
    [
        "../run.json",
        "..%2Frun.json",
        "outputs/../../run.json",
        "%2Fetc%2Fpasswd",
        "..%2F..%2F..%2Fstore.json",
        "outputs%2F..%2F..%2Frun.json",
    ],
)
def test_file_paths_outside_the_run_are_refused(seeded: dict[str, Any], name: str) -> None:
    """A file name that leaves the run's files (.., absolute, encoded) is refused, never served."""
    resp = seeded["http"].get(f"{seeded['url']}/api/runs/{seeded['alpha'].id}/files/{name}")
    assert resp.status_code in (400, 404)
    assert b'"format"' not in resp.content and b"root:" not in resp.content


def test_outward_symlink_is_neither_listed_served_nor_zipped(store: Path) -> None:
    """A symlink in the run's files pointing outside the run is not a file of the run."""
    secret = store.parent / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("top secret")
    run = runlog.Experiment(runlog.Workspace(store), "links").start_logging(outputs=False)
    run.upload_file("outputs/ok.txt", io.BytesIO(b"fine"))
    os.symlink(secret, run.path / layout.FILES_DIR / "outputs" / "leak.txt")
    run.complete()
    q = StoreQuery(store)
    assert [f["name"] for f in q.files(run.id)] == ["outputs/ok.txt"]
    with pytest.raises(ValueError, match="outside"):
        q.file_path(run.id, "outputs/leak.txt")
    buf = io.BytesIO()
    assert q.zip_to(run.id, buf) == ["outputs/ok.txt"]
    with zipfile.ZipFile(buf) as zf:
        assert zf.namelist() == ["outputs/ok.txt"]


def test_download_all_is_a_zip_of_the_runs_files_only(seeded: dict[str, Any]) -> None:
    """The zip holds exactly the run's files with their content, not its events or record."""
    run = seeded["alpha"]
    resp = seeded["http"].get(f"/api/runs/{run.id}/download")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert resp.headers["content-disposition"] == f'attachment; filename="{run.id}.zip"'
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert sorted(zf.namelist()) == sorted(run.get_file_names())
        assert zf.read("outputs/model.txt") == b"weights 1 2 3\n"
        assert not any(n.endswith((".jsonl", "run.json")) for n in zf.namelist())


def test_logs_tail_and_follow(seeded: dict[str, Any]) -> None:
    """The log endpoint lists logs, returns whole lines, and from next_offset only what was appended."""
    run = seeded["live"]
    assert _get(seeded, f"/api/runs/{run.id}/logs")["logs"] == ["logs/driver_log.txt"]
    first = _get(seeded, f"/api/runs/{run.id}/logs", name="logs/driver_log.txt")
    assert first["text"] == "starting\n" and first["offset"] == 0
    run._writer.write_log("step 1\nhalf a li")
    second = _get(seeded, f"/api/runs/{run.id}/logs", name="logs/driver_log.txt", offset=first["next_offset"])
    assert second["text"] == "step 1\n"  # the partial line waits for its end
    run._writer.write_log("ne\n")
    third = _get(seeded, f"/api/runs/{run.id}/logs", name="logs/driver_log.txt", offset=second["next_offset"])
    assert third["text"] == "half a line\n" and third["next_offset"] == third["size"]
    reset = _get(seeded, f"/api/runs/{run.id}/logs", name="logs/driver_log.txt", offset=10**9)
    assert reset["reset"] is True and reset["offset"] == 0
    _error(seeded, f"/api/runs/{run.id}/logs", 400, name="../run.json")


# -- the cache and a run being written -------------------------------------------------------


def test_a_metric_logged_by_two_processes_is_merged_by_time(store: Path) -> None:
    """Points of one metric from two processes' events files come back in wall-time order, counted once each."""
    run = runlog.Experiment(runlog.Workspace(store), "procs").start_logging(outputs=False)
    run.log("loss", 3.0, step=0)
    script = "import sys, runlog\nrunlog.Workspace(sys.argv[1]).get_run(sys.argv[2]).log('loss', 2.0, step=1)\n"
    subprocess.run([sys.executable, "-c", script, str(store), run.id], check=True)
    run.log("loss", 1.0, step=2)
    assert len(list((run.path / layout.EVENTS_DIR).glob("*" + layout.METRICS_SUFFIX))) == 2
    q = StoreQuery(store)
    s = q.series(run.id, "loss")
    assert (s["x"], s["y"]) == ([0.0, 1.0, 2.0], [3.0, 2.0, 1.0])
    summary = q.runs()["runs"][0]["metrics"]["loss"]
    assert (summary["count"], summary["last"], summary["min"], summary["max"]) == (3, 1.0, 1.0, 3.0)
    run.complete()


def test_reads_while_a_writer_appends(store: Path) -> None:
    """Reading in a loop while another process logs never fails, and counts only grow."""
    run = runlog.Experiment(runlog.Workspace(store), "writer").start_logging(outputs=False)
    script = (
        "import sys, runlog\n"
        "ws = runlog.Workspace(sys.argv[1])\n"
        "run = ws.get_run(sys.argv[2])\n"
        "for i in range(3000): run.log('x', float(i), step=i)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(store), run.id])
    q = StoreQuery(store)
    counts = []
    while proc.poll() is None:
        counts.append(q.runs()["runs"][0]["metrics"].get("x", {}).get("count", 0))
    assert proc.wait() == 0
    final = q.series(run.id, "x", points=10_000)
    assert final["total"] == 3000 and final["y"] == [float(i) for i in range(3000)]
    assert counts == sorted(counts)
    run.complete()


# -- safety: host check, token ------------------------------------------------------------------


def test_a_lone_surrogate_in_run_data_does_not_break_the_api(tmp_path: Path) -> None:
    """A string that is not valid Unicode (a non-UTF-8 file name or argv decoded with surrogateescape) is still JSON."""
    store = tmp_path / "surrogates"
    run = runlog.Experiment(runlog.Workspace(store), "s").start_logging(outputs=False)
    run.log("path", "model-\udcff.pt")
    run.log("loss", 0.5)
    run.complete()
    with serve(store) as url, httpx.Client(base_url=url) as http:
        runs = http.get("/api/runs")
        assert runs.status_code == 200, runs.text
        row = runs.json()["runs"][0]
        assert row["metrics"]["path"]["last"] == "model-\udcff.pt" and row["metrics"]["loss"]["last"] == 0.5
        assert http.get(f"/api/runs/{run.id}").status_code == 200


# -- the command ---------------------------------------------------------------------------------


_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(st.tuples(_values, st.one_of(st.none(), st.integers(0, 1000))), min_size=1, max_size=60))
def test_summary_and_series_match_a_reference(tmp_path: Path, points: list[tuple[Any, int | None]]) -> None:
    """For any mix of values and steps, last/min/max and the chart series equal a straightforward fold."""
    store = tmp_path / f"h{time.perf_counter_ns()}"
    run = runlog.Experiment(runlog.Workspace(store), "prop").start_logging(outputs=False)
    for value, step in points:
        run._writer.scalar("m", value, step)
    q = StoreQuery(store)
    summary = q.runs()["runs"][0]["metrics"]["m"]
    numbers = [float(v) for v, _ in points if type(v) in (int, float) and v == v]
    assert summary["count"] == len(points)
    assert summary["last"] == query_module.safe_value(points[-1][0])
    assert summary["min"] == query_module.safe_value(min(numbers) if numbers else None)
    assert summary["max"] == query_module.safe_value(max(numbers) if numbers else None)
    series = q.series(run.id, "m", points=10_000)
    assert series["x"] == [float(s) if s is not None else float(i) for i, (_, s) in enumerate(points)]
    expected_y = [float(v) if type(v) in (int, float) and math.isfinite(v) else None for v, _ in points]
    assert series["y"] == expected_y
    run.complete()


_numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**40), 2**40))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), _numbers, st.one_of(st.none(), st.integers(0, 1000))),
        min_size=1,
        max_size=60,
    ),
    periodic=st.booleans(),
    kind=st.sampled_from(["float", "int", "mixed"]),
    steps=st.sampled_from(["all", "none", "any"]),
)
def test_several_metrics_of_points_match_a_reference(
    tmp_path: Path, points: list[tuple[str, Any, int | None]], periodic: bool, kind: str, steps: str
) -> None:
    """Points of several names (interleaved in a fixed order, as a training loop logs them, or in any
    order), only floats, only ints or both, with and without steps: each name's summary and series
    equal a fold."""
    if kind == "float":
        points = [(n, float(v) if type(v) is int else v, s) for n, v, s in points]
    elif kind == "int":
        points = [(n, v if type(v) is int else (int(v) if math.isfinite(v) else 7), s) for n, v, s in points]
    if steps != "any":
        points = [(n, v, None if steps == "none" else i) for i, (n, v, _) in enumerate(points)]
    if periodic:  # every name at every step, in the same order: the strided fast path
        points = [(name, value, step) for _, value, step in points for name in ("a", "b", "c")]
    store = tmp_path / f"h{time.perf_counter_ns()}"
    run = runlog.Experiment(runlog.Workspace(store), "prop").start_logging(outputs=False)
    for name, value, step in points:
        run._writer.scalar(name, value, step)
    q = StoreQuery(store)
    metrics = q.runs()["runs"][0]["metrics"]
    for name in {n for n, _, _ in points}:
        mine = [(v, s) for n, v, s in points if n == name]
        numbers = [float(v) for v, _ in mine if v == v]
        summary = metrics[name]
        assert summary["count"] == len(mine)
        assert summary["last"] == query_module.safe_value(mine[-1][0])
        assert summary["min"] == query_module.safe_value(min(numbers) if numbers else None)
        assert summary["max"] == query_module.safe_value(max(numbers) if numbers else None)
        series = q.series(run.id, name, points=10_000)
        assert series["x"] == [float(s) if s is not None else float(i) for i, (_, s) in enumerate(mine)]
        assert series["y"] == [float(v) if math.isfinite(v) else None for v, _ in mine]
    run.complete()


def test_a_zoom_on_a_metric_logged_with_and_then_without_steps_finds_every_point(store: Path) -> None:
    """Steps 100-104 read first, then 3 step-less points (x = their index 5-7) appended: the series is not
    sorted by x any more, and a zoomed range still finds the points in it."""
    run = runlog.Experiment(runlog.Workspace(store), "zoom").start_logging(outputs=False)
    for i in range(5):
        run.log("loss", float(i), step=100 + i)
    q = StoreQuery(store)
    assert q.series(run.id, "loss")["x"] == [100.0, 101.0, 102.0, 103.0, 104.0]
    for i in range(3):
        run.log("loss", 10.0 + i)
    zoomed = q.series(run.id, "loss", xmin=0, xmax=50)
    assert (zoomed["x"], zoomed["y"]) == ([5.0, 6.0, 7.0], [10.0, 11.0, 12.0])
    run.complete()


def test_download_all_streams_the_zip_while_it_is_made(store: Path) -> None:
    """The zip is made chunk by chunk as it is sent (no whole copy in memory or on disk): a run with a
    3 MiB file comes in many chunks of about the chunk size, and the zip holds every file whole."""
    run = runlog.Experiment(runlog.Workspace(store), "bigzip").start_logging(outputs=False)
    payload = os.urandom(3 << 20)  # incompressible
    run.upload_file("outputs/weights.bin", io.BytesIO(payload))
    run.upload_file("outputs/small.txt", io.BytesIO(b"small"))
    run._writer.write_log("a line\n")
    run.complete()
    q = StoreQuery(store)
    names: list[str] = []
    chunks = list(q.iter_zip(run.id, names, chunk=256 << 10))
    assert len(chunks) >= 10 and max(len(c) for c in chunks) < 2 * (256 << 10)
    assert sorted(names) == sorted(run.get_file_names())
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as zf:
        assert zf.testzip() is None
        assert zf.read("outputs/weights.bin") == payload and zf.read("outputs/small.txt") == b"small"
    with pytest.raises(RunNotFound):
        q.iter_zip("no_such_run_1")


def test_download_all_keeps_a_file_dated_before_1980(store: Path) -> None:
    """A zip cannot date a file before 1980: such a file is stored (dated 1980), not left out."""
    run = runlog.Experiment(runlog.Workspace(store), "oldzip").start_logging(outputs=False)
    run.upload_file("outputs/old.txt", io.BytesIO(b"from 1970"))
    os.utime(run.path / layout.FILES_DIR / "outputs" / "old.txt", (0, 0))
    run.complete()
    with zipfile.ZipFile(io.BytesIO(b"".join(StoreQuery(store).iter_zip(run.id)))) as zf:
        assert zf.read("outputs/old.txt") == b"from 1970"


# -- search: MLflow's filter syntax (issue 15, item 2) ---------------------------------------------------


def test_runs_filter_order_by_and_pages(seeded: dict[str, Any]) -> None:
    """/api/runs?filter=...&order_by=... answers with MLflow's search (runlog._store.search), paged by max_results/page_token."""
    a, b = seeded["alpha"].id, seeded["beta"].id
    found = seeded["http"].get("/api/runs", params={"filter": "metrics.acc > 0.85"}).json()
    assert [r["id"] for r in found["runs"]] == [b] and found["next_page_token"] is None
    found = seeded["http"].get("/api/runs", params={"filter": "tags.lr = '0.1'"}).json()
    assert [r["id"] for r in found["runs"]] == [a]
    ordered = (
        seeded["http"]
        .get("/api/runs", params=[("filter", "metrics.acc >= 0"), ("order_by", "metrics.acc DESC")])
        .json()
    )
    assert [r["id"] for r in ordered["runs"]] == [b, a]
    first = (
        seeded["http"]
        .get("/api/runs", params={"filter": "metrics.acc >= 0", "order_by": "metrics.acc ASC", "max_results": 1})
        .json()
    )
    assert [r["id"] for r in first["runs"]] == [a] and first["next_page_token"]
    second = (
        seeded["http"]
        .get(
            "/api/runs",
            params={
                "filter": "metrics.acc >= 0",
                "order_by": "metrics.acc ASC",
                "max_results": 1,
                "page_token": first["next_page_token"],
            },
        )
        .json()
    )
    assert [r["id"] for r in second["runs"]] == [b] and second["next_page_token"] is None
    words = seeded["http"].get("/api/runs", params={"filter": "beta"}).json()  # plain words: names and ids
    assert [r["id"] for r in words["runs"]] == [b]


def test_api_runs_answers_a_page_by_default_never_the_whole_store(seeded: dict[str, Any]) -> None:
    """Without max_results /api/runs answers one page (PAGE runs) with a token for the next and the total; the
    pages together are every run once, newest first; a page larger than MAX_PAGE is refused."""
    from runlog.ui import query as query_module

    http = seeded["http"]
    every = http.get("/api/runs", params={"max_results": 1000}).json()
    assert every["total"] == len(every["runs"]) == 5 and every["next_page_token"] is None
    starts = [r["start_time"] for r in every["runs"]]
    assert starts == sorted(starts, reverse=True)  # newest first
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(query_module, "PAGE", 2)
        first = http.get("/api/runs").json()
        assert len(first["runs"]) == 2 and first["total"] == 5 and first["next_page_token"]
        seen, token = [r["id"] for r in first["runs"]], first["next_page_token"]
        while token:
            answer = http.get("/api/runs", params={"page_token": token}).json()
            assert len(answer["runs"]) <= 2
            seen += [r["id"] for r in answer["runs"]]
            token = answer["next_page_token"]
    assert seen == [r["id"] for r in every["runs"]]
    assert http.get("/api/runs", params={"max_results": 1001}).status_code == 400


def test_a_bad_filter_is_a_400_saying_where(seeded: dict[str, Any]) -> None:
    """A filter that does not parse is a 400 JSON error whose message shows the problem and an example."""
    resp = seeded["http"].get("/api/runs", params={"filter": "metrics.acc >> 1"})
    assert resp.status_code == 400
    message = resp.json()["error"]["message"]
    assert "position" in message and "Example" in message
    assert seeded["http"].get("/api/runs", params={"filter": "x", "max_results": 0}).status_code == 400
