"""The viewer's JSON API (runlog.ui), through a real uvicorn server on 127.0.0.1, and its read side."""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ui_helpers import seed, serve

import runlog
from runlog._errors import RunNotFound
from runlog._store import layout
from runlog.ui import cache as cache_module
from runlog.ui import query as query_module
from runlog.ui.downsample import minmax_downsample
from runlog.ui.query import StoreQuery


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = tmp_path_factory.mktemp("ui-api") / "store"
    runs = seed(store)
    with serve(store) as url:
        runs["url"] = url
        runs["store"] = store
        runs["http"] = httpx.Client(base_url=url, timeout=10)
        yield runs
        runs["http"].close()
    runs["live"].complete()


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
    assert [(c["id"], c["display_name"], c["status"]) for c in d["children"]] == [(seeded["child"].id, "alpha-child", "Completed")]
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
    zr = _get(seeded, f"/api/runs/{rid}/series", name="loss", x="relative", xmin=(rx[0] + rx[1]) / 2, xmax=(rx[2] + rx[3]) / 2)
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


def test_long_series_is_downsampled_keeping_extremes(store: Path) -> None:
    """A 50,000-point series comes back as about `points` points that still hold its min and max spikes."""
    exp = runlog.Experiment(runlog.Workspace(store), "big")
    run = exp.start_logging(outputs=False)
    values = [float(i % 100) for i in range(50_000)]
    values[12_345] = -500.0
    values[40_000] = 900.0
    for i, v in enumerate(values):
        run._writer.scalar("loss", v, i)
    run.complete()
    s = StoreQuery(store).series(run.id, "loss", points=1000)
    assert s["total"] == 50_000 and s["downsampled"] is True
    assert len(s["x"]) <= 1002
    assert min(s["y"]) == -500.0 and max(s["y"]) == 900.0
    assert 12_345 in s["x"] and 40_000 in s["x"]
    assert s["x"] == sorted(s["x"]) and s["x"][0] == 0 and s["x"][-1] == 49_999


def test_minmax_downsample_edges() -> None:
    """Short series pass through; NaN becomes None; the output keeps bucket min/max in x order."""
    assert minmax_downsample([1, 2, 3], [1.0, float("nan"), 3.0], 10) == ([1, 2, 3], [1.0, None, 3.0])
    xs = list(range(100))
    ys = [0.0] * 100
    ys[10], ys[11] = 5.0, -5.0
    out_x, out_y = minmax_downsample(xs, ys, 10)
    assert len(out_x) <= 10 and out_x == sorted(out_x)
    assert (10, 5.0) in zip(out_x, out_y) and (11, -5.0) in zip(out_x, out_y)
    with pytest.raises(ValueError, match="same length"):
        minmax_downsample([1, 2], [1.0], 10)


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
    ["../run.json", "..%2Frun.json", "outputs/../../run.json", "%2Fetc%2Fpasswd", "..%2F..%2F..%2Fstore.json", "outputs%2F..%2F..%2Frun.json"],
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


def test_log_tail_starts_at_a_line_boundary(store: Path) -> None:
    """Without an offset, a long log answers its last max_bytes from a whole line; before= pages back to the start."""
    run = runlog.Experiment(runlog.Workspace(store), "logs").start_logging(outputs=False)
    run._writer.write_log("".join(f"line {i:05d}\n" for i in range(1000)))
    chunk = StoreQuery(store).log(run.id, "logs/driver_log.txt", max_bytes=1024)
    lines = chunk["text"].splitlines()
    assert lines[-1] == "line 00999" and all(re.fullmatch(r"line \d{5}", line) for line in lines)
    assert chunk["offset"] > 0 and chunk["next_offset"] == chunk["size"]
    pages = [chunk["text"]]
    while chunk["offset"] > 0:  # page back to the start: whole lines, nothing lost or repeated
        chunk = StoreQuery(store).log(run.id, "logs/driver_log.txt", max_bytes=1024, before=chunk["offset"])
        pages.append(chunk["text"])
    assert "".join(reversed(pages)) == "".join(f"line {i:05d}\n" for i in range(1000))
    with pytest.raises(ValueError, match="not both"):
        StoreQuery(store).log(run.id, "logs/driver_log.txt", offset=0, before=10)
    run.complete()


# -- the cache and a run being written -------------------------------------------------------


def test_unchanged_events_files_are_not_parsed_again(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only appended bytes are parsed: a second runs() without writes parses nothing, a write parses one event.

    Numbers are points (32-byte records of the points file), strings are JSON lines: both are
    read incrementally.
    """
    run = runlog.Experiment(runlog.Workspace(store), "cache").start_logging(outputs=False)
    for i in range(100):
        run.log("loss", float(i))
        run.log("phase", f"p{i}")
    lines: list[int] = []
    records: list[int] = []
    real_parse, real_points = cache_module.parse_columns, cache_module.EventsFile._feed_points
    monkeypatch.setattr(
        cache_module, "parse_columns", lambda data, *source: lines.append(data.count(b"\n")) or real_parse(data, *source)
    )

    def feed_points(self: Any, data: bytes, *source: Any) -> None:
        records.append(len(data) // 32)
        real_points(self, data, *source)

    monkeypatch.setattr(cache_module.EventsFile, "_feed_points", feed_points)
    q = StoreQuery(store)
    metrics = q.runs()["runs"][0]["metrics"]
    assert (metrics["loss"]["count"], metrics["phase"]["count"]) == (100, 100)
    assert (lines, records) == ([101], [100])  # 100 strings + the "n" line naming loss; 100 points
    q.runs()
    assert (lines, records) == ([101], [100])
    run.log("loss", -1.0)
    row = q.runs()["runs"][0]["metrics"]["loss"]
    assert (lines, records) == ([101], [100, 1])
    assert (row["count"], row["last"], row["min"]) == (101, -1.0, -1.0)
    run.log("phase", "last")
    assert q.runs()["runs"][0]["metrics"]["phase"]["last"] == "last"
    assert (lines, records) == ([101, 1], [100, 1])
    run.complete()


def test_a_torn_last_line_is_not_shown_until_whole(store: Path) -> None:
    """A metric line being written (no newline yet) is invisible; once whole it is counted once."""
    run = runlog.Experiment(runlog.Workspace(store), "torn").start_logging(outputs=False)
    run.log("loss", 1.0)
    events = next((run.path / layout.EVENTS_DIR).glob("*" + layout.METRICS_SUFFIX))
    q = StoreQuery(store)
    with open(events, "ab") as fh:
        fh.write(b'["s","loss",0.5,null,')
        fh.flush()
        assert q.run(run.id)["metrics"]["loss"]["count"] == 1
        fh.write(b"1717000000.0]\n")
    loss = q.run(run.id)["metrics"]["loss"]
    assert (loss["count"], loss["min"]) == (2, 0.5)
    run.complete()


def test_a_torn_point_waits_and_a_point_without_a_name_is_skipped(store: Path) -> None:
    """Points: a half-written 32-byte record is invisible until whole; a record whose name id no "n" line
    defines (its line lost to a damaged metrics file) is skipped, and the points after it are shown."""
    from runlog._store.records import pack_float, pack_int

    run = runlog.Experiment(runlog.Workspace(store), "torn").start_logging(outputs=False)
    run.log("loss", 1.0)
    events = run.path / layout.EVENTS_DIR
    points = next(events.glob("*" + layout.POINTS_SUFFIX))
    q = StoreQuery(store)
    record = pack_float(0, 0.5, -(1 << 63), 1717000000.0)
    with open(points, "ab") as fh:
        fh.write(record[:20])
        fh.flush()
        assert q.run(run.id)["metrics"]["loss"]["count"] == 1
        fh.write(record[20:])
        fh.flush()
        loss = q.run(run.id)["metrics"]["loss"]
        assert (loss["count"], loss["min"]) == (2, 0.5)
        fh.write(pack_int(7, 1, 42, 3, 1717000001.0))  # id 7: never defined
        fh.write(pack_float(0, 0.25, -(1 << 63), 1717000002.0))
    found = q.run(run.id)["metrics"]
    assert set(found) == {"loss"}
    assert (found["loss"]["count"], found["loss"]["min"]) == (3, 0.25)
    run.complete()


def test_a_points_file_replaced_while_it_was_gone_is_read_again(store: Path) -> None:
    """The points file disappears (a refresh sees it gone) and comes back shorter: the viewer reads it from
    its start, as a fresh reader would, instead of from the old offset."""
    run = runlog.Experiment(runlog.Workspace(store), "replaced").start_logging(outputs=False)
    for i in range(10):
        run.log("loss", float(i))
    points = next((run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))
    saved = points.read_bytes()
    q = StoreQuery(store)
    assert q.series(run.id, "loss")["y"] == [float(i) for i in range(10)]
    points.rename(points.with_name(points.name + ".moved"))
    assert "loss" not in q.run(run.id)["metrics"]  # a refresh while it is gone
    points.write_bytes(saved[: 5 * 32])
    assert q.series(run.id, "loss")["y"] == StoreQuery(store).series(run.id, "loss")["y"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    run.complete()


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


def test_loopback_server_refuses_other_host_headers(seeded: dict[str, Any]) -> None:
    """Without a token the server answers only requests addressed to a loopback host (no DNS rebinding)."""
    http = seeded["http"]
    assert http.get("/api/runs", headers={"Host": "evil.example:5050"}).status_code == 403
    assert http.get("/api/runs", headers={"Host": "localhost:5050"}).status_code == 200
    assert http.get("/api/runs", headers={"Host": "LocalHost"}).status_code == 200
    assert http.get("/api/runs", headers={"Host": "[::1]:5050"}).status_code == 200
    assert http.get("/api/runs", headers={"Host": "127.0.0.1.evil.example"}).status_code == 403


def test_a_server_bound_to_another_loopback_address_answers_it(tmp_path: Path) -> None:
    """`runlog ui --host 127.0.0.2` needs no token (loopback): requests addressed to it are served, names still refused."""
    from runlog.ui.app import Gate

    answered: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    import asyncio

    gate = Gate(app, None)
    for host in (b"127.0.0.2:5050", b"127.1.2.3", b"[::1]:5050", b"rebind.example:5050", b"127.0.0.2.nip.io"):
        scope = {"type": "http", "path": "/api/runs", "method": "GET", "headers": [(b"host", host)], "query_string": b""}
        asyncio.run(gate(scope, None, send))  # type: ignore[arg-type]
    assert answered == [200, 200, 200, 403, 403]


def test_the_token_landing_redirect_stays_on_this_server() -> None:
    """`?token=` on a page redirects to the same path on this server: `//host` is not another site, non-ASCII is no 500."""
    import asyncio

    from runlog.ui.app import Gate

    token = "landing-token-0123456789"
    answers: list[tuple[int, dict[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            answers.append((message["status"], dict(message["headers"])))

    gate = Gate(app, token)
    for path, raw in (("//evil.example/x", b"//evil.example/x"), ("/caf\u00e9", b"/caf%C3%A9")):
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": raw, "headers": [(b"host", b"lan:5050")],
                 "query_string": f"token={token}&x=1".encode()}  # fmt: skip
        asyncio.run(gate(scope, None, send))  # type: ignore[arg-type]
    assert [(status, h[b"location"]) for status, h in answers] == [(303, b"/evil.example/x?x=1"), (303, b"/caf%C3%A9?x=1")]


def test_page_and_security_headers(seeded: dict[str, Any]) -> None:
    """The page is served with a strict CSP (no inline script), nosniff and no framing; static assets ship."""
    http = seeded["http"]
    page = http.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert page.headers["x-frame-options"] == "DENY"
    for asset in ("/static/app.js", "/static/app.css", "/static/vendor/uPlot.iife.min.js", "/static/vendor/uPlot.min.css"):
        assert http.get(asset).status_code == 200, asset


def test_token_is_required_on_every_request(tmp_path: Path) -> None:
    """With a token: no token or a wrong one is 401; header, query parameter and the cookie it sets work."""
    store = tmp_path / "tokstore"
    runlog.Experiment(runlog.Workspace(store), "t").start_logging(outputs=False).complete()
    with serve(store, token="s3cret-token-0123456") as url, httpx.Client(base_url=url) as http:
        assert http.get("/api/runs").status_code == 401
        assert http.get("/").status_code == 401
        assert http.get("/static/app.js").status_code == 401
        assert http.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert http.get("/api/runs", headers={"Authorization": "Bearer s3cret-token-0123456"}).status_code == 200
        assert http.get("/api/runs", headers={"X-Runlog-Token": "s3cret-token-0123456"}).status_code == 200
        assert http.get("/api/runs", params={"token": "s3cret-token-0123456"}).status_code == 200
    with serve(store, token="s3cret-token-0123456") as url, httpx.Client(base_url=url) as browser:
        landing = browser.get("/", params={"token": "s3cret-token-0123456", "x": "1"})
        assert landing.status_code == 303 and landing.headers["location"] == "/?x=1"
        assert "HttpOnly" in landing.headers["set-cookie"] and "SameSite=Strict" in landing.headers["set-cookie"]
        # the client keeps the cookie: later requests need nothing else
        assert browser.get("/").status_code == 200
        assert browser.get("/api/runs").status_code == 200
        browser.cookies.clear()
        assert browser.get("/api/runs").status_code == 401


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


def test_openapi_schema_lists_every_route(seeded: dict[str, Any]) -> None:
    """/api/openapi.json is OpenAPI 3.1 and documents exactly the API routes the app serves."""
    from runlog.ui.app import ROUTES

    schema = _get(seeded, "/api/openapi.json")
    assert schema["openapi"].startswith("3.1")
    served = {r.path.replace("{name:path}", "{name}") for r in ROUTES if r.path.startswith("/api/")}
    assert set(schema["paths"]) == served
    for path, item in schema["paths"].items():
        for param in item["get"].get("parameters", []):
            if param["in"] == "path":
                assert "{" + param["name"] + "}" in path


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
    ordered = seeded["http"].get("/api/runs", params=[("filter", "metrics.acc >= 0"), ("order_by", "metrics.acc DESC")]).json()
    assert [r["id"] for r in ordered["runs"]] == [b, a]
    first = seeded["http"].get("/api/runs", params={"filter": "metrics.acc >= 0", "order_by": "metrics.acc ASC", "max_results": 1}).json()
    assert [r["id"] for r in first["runs"]] == [a] and first["next_page_token"]
    second = seeded["http"].get("/api/runs", params={"filter": "metrics.acc >= 0", "order_by": "metrics.acc ASC", "max_results": 1, "page_token": first["next_page_token"]}).json()
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


def test_warming_up_parses_only_the_newest_runs(seeded: dict[str, Any]) -> None:
    """The server's background warm-up parses the newest runs (the table's first pages), not the whole store."""
    from runlog.ui.query import StoreQuery

    query = StoreQuery(seeded["store"])
    newest = [r["id"] for r in query.runs(max_results=2)["runs"]]
    fresh = StoreQuery(seeded["store"])
    fresh.warm(runs=2)
    assert sorted(fresh._runs) == sorted(newest)
    assert all(cache.record is not None for cache in fresh._runs.values())  # parsed, not only listed


def test_a_bad_filter_is_a_400_saying_where(seeded: dict[str, Any]) -> None:
    """A filter that does not parse is a 400 JSON error whose message shows the problem and an example."""
    resp = seeded["http"].get("/api/runs", params={"filter": "metrics.acc >> 1"})
    assert resp.status_code == 400
    message = resp.json()["error"]["message"]
    assert "position" in message and "Example" in message
    assert seeded["http"].get("/api/runs", params={"filter": "x", "max_results": 0}).status_code == 400
