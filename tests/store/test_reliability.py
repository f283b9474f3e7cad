"""Nothing poisons a run or the store (issue 17): readers survive damage, records are durable and
shared, damage is reported once, and nothing invented is served. Each test names the case of the
issue it reproduces."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from ui_helpers import serve

import runlog
from runlog import DamagedRecordError, InvalidArgumentError
from runlog._store import layout, reader
from runlog.cli import main


@contextmanager
def _viewer(store: Path) -> Iterator[httpx.Client]:
    """An HTTP client on a real viewer of ``store``."""
    with serve(store) as url, httpx.Client(base_url=url, timeout=20) as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_reports() -> Iterator[None]:
    """Damage is reported once per file: each test starts with nothing reported."""
    reader._reported.clear()
    yield
    reader._reported.clear()


def _two_runs(exp: runlog.Experiment) -> tuple[runlog.Run, runlog.Run]:
    good = exp.start_logging(outputs=None)
    good.log("acc", 0.5)
    good.complete()
    bad = exp.start_logging(outputs=None)
    for i in range(3):
        bad.log("loss", float(i), step=i)
    bad.log_row("table", a=1, b="x")
    bad.complete()
    return good, bad


def _meta_file(run: runlog.Run) -> Path:
    return next((run.path / layout.EVENTS_DIR).glob("*" + layout.META_SUFFIX))


def _metrics_file(run: runlog.Run) -> Path:
    return next((run.path / layout.EVENTS_DIR).glob("*" + layout.METRICS_SUFFIX))


def _points_file(run: runlog.Run) -> Path:
    return next((run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))


def _listings_work(store: Path, exp: runlog.Experiment, ids: set[str]) -> None:
    """`runlog runs`, `runlog experiments`, Experiment.get_runs and the viewer's /api/runs list every run."""
    result = CliRunner().invoke(main, ["runs", "--store", str(store)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for run_id in ids:
        assert run_id in result.output
    result = CliRunner().invoke(main, ["experiments", "--store", str(store)], catch_exceptions=False)
    assert result.exit_code == 0 and exp.name in result.output
    assert {r.id for r in exp.get_runs(include_children=True)} >= ids
    with _viewer(store) as client:
        resp = client.get("/api/runs")
        assert resp.status_code == 200, resp.text
        assert {r["id"] for r in resp.json()["runs"]} >= ids
        for run_id in ids:
            assert client.get(f"/api/runs/{run_id}").status_code == 200


# -- case 2: unknown kinds of any shape, wrong-typed records ---------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        ["future_kind", {"an": "object"}, 1, None, 1.0],
        ["future_kind", ["a", "list"], {"x": 1}, None, 1.0],
        [{"kind": "object"}, "k", 1, None, 1.0],
        ["tag", ["lr"], "x", None, 1.0],
        ["tag", "lr", {"not": "a str"}, None, 1.0],
        ["status", {"x": 1}, None, None, 1.0],
        ["prop", None, "v", None, 1.0],
    ],
)
def test_unknown_or_wrong_typed_meta_events_are_ignored(exp: runlog.Experiment, store: Path, line: list[Any]) -> None:
    """Case 2: a meta event of an unknown kind (any shape) or a known kind with wrong types never breaks
    reading that run or listing the others."""
    good, bad = _two_runs(exp)
    bad.tag("kept", "yes")
    with open(_meta_file(bad), "a") as fh:
        fh.write(json.dumps(line) + "\n")
    run = runlog.Run(exp, bad.id)
    assert run.get_tags() == {"kept": "yes"}
    assert run.get_status() == "Completed"
    _listings_work(store, exp, {good.id, bad.id})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "Expecting value"),
        (b'{"run_id": "x", "crea', "Unterminated string"),
        (b"[1, 2]", "a JSON list, not an object"),
        (b'{"created": "yesterday"}', "'created' is 'yesterday'"),
        (b'{"parent_id": ["a"]}', "'parent_id' is ['a']"),
        (b"\x00" * 64, "Expecting value"),
    ],
)
def test_a_damaged_run_json_names_the_run_and_keeps_its_metrics(
    exp: runlog.Experiment, store: Path, content: bytes, why: str
) -> None:
    """Case 3 (and case 2's run.json shapes): an empty, half-written or wrong-typed run.json gives
    "run.json of run X at PATH is damaged (...)"; the run's metrics stay readable; listings go on."""
    good, bad = _two_runs(exp)
    record = bad.path / layout.RUN_RECORD
    record.write_bytes(content)
    with pytest.raises(DamagedRecordError, match=rf"run\.json of run {bad.id} at .*{record.name} is damaged \(.*{re.escape(why)}") as info:
        reader.RunReader(bad.path).record()
    assert isinstance(info.value, ValueError) and isinstance(info.value, runlog.StoreError)
    run = runlog.Run(exp, bad.id)
    assert run.get_metrics()["loss"] == [0.0, 1.0, 2.0]
    assert run.get_status() == "Completed"
    _listings_work(store, exp, {good.id, bad.id})
    result = CliRunner().invoke(main, ["show", bad.id, "--store", str(store)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "is damaged" in result.output and "loss" in result.output
    with _viewer(store) as client:
        row = client.get(f"/api/runs/{bad.id}").json()
        assert "is damaged" in row["damaged"] and row["metrics"]["loss"]["count"] == 3


def test_a_damaged_run_json_is_reported_once(exp: runlog.Experiment, caplog: pytest.LogCaptureFixture) -> None:
    """Case 3: the damage is a WARNING on the runlog logger tree, once however often the run is read."""
    _, bad = _two_runs(exp)
    (bad.path / layout.RUN_RECORD).write_text("")
    with caplog.at_level(logging.WARNING, logger="runlog"):
        for _ in range(3):
            runlog.Run(exp, bad.id).get_metrics()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "run.json" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].name.startswith("runlog")


def test_events_folder_replaced_by_a_file_and_folders_named_like_events_files(exp: runlog.Experiment, store: Path) -> None:
    """Case 2: `events/` being a file, or a folder named `x.metrics.jsonl`, breaks neither the run nor listings."""
    good, bad = _two_runs(exp)
    (good.path / layout.EVENTS_DIR / ("x" + layout.METRICS_SUFFIX)).mkdir()
    (good.path / layout.EVENTS_DIR / ("x" + layout.META_SUFFIX)).mkdir()
    (good.path / layout.EVENTS_DIR / ("x" + layout.POINTS_SUFFIX)).mkdir()
    events = bad.path / layout.EVENTS_DIR
    for f in events.iterdir():
        f.unlink()
    events.rmdir()
    events.write_text("not a folder")
    assert runlog.Run(exp, good.id).get_metrics() == {"acc": 0.5}
    assert runlog.Run(exp, bad.id).get_metrics() == {}
    _listings_work(store, exp, {good.id, bad.id})


# -- case 4: metric-level damage is detected, not served -------------------------------------------


def test_zero_filled_points_invent_nothing(exp: runlog.Experiment, store: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Case 4: 4 KiB of zeros inside points.bin adds no `0.0 @ step 0, 1970` points; the damage is reported once."""
    run = exp.start_logging(outputs=None)
    for i in range(300):
        run.log("loss", float(i + 1), step=i + 1)
    run.complete()
    points = _points_file(run)
    data = bytearray(points.read_bytes())
    data[1024 : 1024 + 4096] = bytes(4096)
    points.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="runlog"):
        history = runlog.Run(exp, run.id).get_metric_history("loss")
        runlog.Run(exp, run.id).get_metrics()
    assert len(history) == 300 - 128
    assert all(p.value != 0.0 and p.step != 0 and p.time > 1e9 for p in history)
    assert [r.getMessage() for r in caplog.records].count(
        next(r.getMessage() for r in caplog.records if "damaged point record" in r.getMessage())
    ) == 1
    with _viewer(store) as client:
        summary = client.get(f"/api/runs/{run.id}").json()["metrics"]["loss"]
        assert summary["count"] == 300 - 128 and summary["min"] > 0


def test_zeros_over_the_name_definitions_lose_no_points(exp: runlog.Experiment, store: Path) -> None:
    """Case 4: 50 zero bytes over the name definitions at the start of a metrics file lose no point: the
    names file keeps a copy of them (API and viewer)."""
    run = exp.start_logging(outputs=None)
    for i in range(100):
        run.log("loss", float(i), step=i)
        run.log("acc", i / 100, step=i)
    run.complete()
    metrics = _metrics_file(run)
    data = bytearray(metrics.read_bytes())
    data[:50] = bytes(50)
    metrics.write_bytes(bytes(data))
    got = runlog.Run(exp, run.id).get_metrics()
    assert got["loss"] == [float(i) for i in range(100)] and got["acc"] == [i / 100 for i in range(100)]
    with _viewer(store) as client:
        summary = client.get(f"/api/runs/{run.id}").json()["metrics"]
        assert summary["loss"]["count"] == 100 and summary["acc"]["count"] == 100


@pytest.mark.parametrize("damaged", ["metrics", "meta", "names definitions in the metrics file only"])
def test_name_definitions_survive_damage_to_one_copy(exp: runlog.Experiment, store: Path, damaged: str) -> None:
    """Issue 17/18: each name definition is kept twice, in the metrics file and (format 3) as an ``n`` event of
    the same process's meta file (no names file of its own): zeros over either copy lose no point, and the
    copy is no meta event (no tag, no extra state)."""
    run = exp.start_logging(outputs=None)
    for i in range(20):
        run.log("loss", float(i), step=i)
        run.log("acc", i / 20, step=i)
    run.tag("k", "v")
    run.complete()
    assert not list((run.path / layout.EVENTS_DIR).glob("*.names.jsonl"))
    meta = _meta_file(run)
    assert sum(1 for line in meta.read_text().splitlines() if line.startswith('["n",')) == 2
    path = _meta_file(run) if damaged == "meta" else _metrics_file(run)
    data = bytearray(path.read_bytes())
    if damaged == "meta":  # zeros over the name definitions' copy (status and tag lines after it stay)
        start = data.index(b'["n",')
        end = data.index(b"\n", data.index(b'["n","acc"'))  # (its newline kept: the next line stays whole)
        data[start:end] = bytes(end - start)
    else:
        data[: 60 if damaged == "metrics" else data.index(b"\n", data.index(b'["n","acc"'))] = bytes(
            60 if damaged == "metrics" else data.index(b"\n", data.index(b'["n","acc"'))
        )
    path.write_bytes(bytes(data))
    again = runlog.Run(exp, run.id)
    got = again.get_metrics()
    assert got["loss"] == [float(i) for i in range(20)] and got["acc"] == [i / 20 for i in range(20)]
    assert again.get_tags() == {"k": "v"} and "n" not in again._reader.state().extra
    with _viewer(store) as client:
        summary = client.get(f"/api/runs/{run.id}").json()["metrics"]
        assert summary["loss"]["count"] == 20 and summary["acc"]["count"] == 20


@pytest.mark.parametrize("lost", [1, 3, 8, 16, 24, 31])
def test_bytes_lost_at_the_start_of_points_serve_no_garbage(exp: runlog.Experiment, store: Path, lost: int) -> None:
    """Case 4: a points file missing its first bytes (every record misaligned) serves no garbage values: it is
    read from where its records line up again (API and viewer), losing only the first record."""
    run = exp.start_logging(outputs=None)
    logged = [float(i) + 0.5 for i in range(50)]  # x.5: low bytes zero, the hardest to tell misaligned
    for i, v in enumerate(logged):
        run.log("loss", v, step=i)
    run.complete()
    points = _points_file(run)
    points.write_bytes(points.read_bytes()[lost:])
    got = runlog.Run(exp, run.id).get_metrics().get("loss", [])
    assert got == logged[1:]
    with _viewer(store) as client:
        series = client.get(f"/api/runs/{run.id}/series", params={"name": "loss", "points": 1000})
        assert series.status_code == 200, series.text
        assert set(series.json()["y"]) <= set(logged) and len(series.json()["y"]) == 49


def _all_loss_values(store: Path, exp: runlog.Experiment, run_id: str) -> dict[str, list[Any]]:
    """The loss values every reader serves: the API, the viewer's query layer, the uploader's event
    iterator and the latest-value reader (MLflow clients)."""
    from runlog._store.latest import LatestValues
    from runlog._upload._reading import iter_metric_events
    from runlog.ui.query import StoreQuery

    run = runlog.Run(exp, run_id)
    api = [p.value for p in run.get_metric_history("loss")]
    viewer = StoreQuery(store).series(run_id, "loss", points=100_000)["y"]
    uploader = [v for k, n, v in iter_metric_events(run.path) if n == "loss"]
    latest = LatestValues().of(run.path).get("loss")
    return {"api": api, "viewer": viewer, "uploader": uploader, "latest": [latest[0]] if latest else []}


@pytest.mark.parametrize(
    "damage",
    [
        "flipped value byte",
        "flipped time byte",
        "zeros over half a record",
        "zeros over a sector",
        "a record copied over by another's bytes misaligned",
        "bytes lost at the start, then a zeroed sector",
        "a byte inserted in the middle",
    ],
)
def test_a_record_failing_its_check_is_never_served(
    exp: runlog.Experiment, store: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    """Issue 17 "damage is detected, not served": each points record carries a check (store format 3), so a
    record changed in any way (a flipped byte, zeros over part of it, misaligned bytes) is skipped by every
    reader (API, viewer, uploader, latest values) instead of served as another value; the damage is reported
    once, as a WARNING on the runlog logger naming the points file; the records around it are read."""
    run = exp.start_logging(outputs=None)
    logged = [float(i) + 0.5 for i in range(300)]
    for i, v in enumerate(logged):
        run.log("loss", v, step=i)
    run.complete()
    points = _points_file(run)
    data = bytearray(points.read_bytes())
    if damage == "flipped value byte":
        data[10 * 32 + 9] ^= 0x01  # 10.5 -> another float of the right type: only a check tells
    elif damage == "flipped time byte":
        data[11 * 32 + 24] ^= 0x40
    elif damage == "zeros over half a record":
        data[12 * 32 + 16 : 13 * 32] = bytes(16)
    elif damage == "zeros over a sector":
        data[512 : 1024] = bytes(512)
    elif damage == "a record copied over by another's bytes misaligned":
        data[20 * 32 : 21 * 32] = data[30 * 32 + 8 : 31 * 32 + 8]
    elif damage == "bytes lost at the start, then a zeroed sector":
        del data[:5]
        data[1024:1536] = bytes(512)
    else:
        data.insert(40 * 32 + 3, 0x7F)
    points.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="runlog"):
        served = _all_loss_values(store, exp, run.id)
        _all_loss_values(store, exp, run.id)  # read again: reported once
    for reader_name, values in served.items():
        assert set(values) <= set(logged), (reader_name, set(values) - set(logged))
    assert len(served["api"]) >= 300 - 20 and served["api"] == sorted(served["api"])
    assert served["viewer"] == served["api"]
    # (the uploader and the latest values read whole 32-byte multiples of the file: after an inserted byte
    # the last record's last byte is beyond them, so they may miss that one record; nothing else differs)
    assert set(served["uploader"]) <= set(served["api"]) and len(served["uploader"]) >= len(served["api"]) - 1
    assert len(served["latest"]) == 1 and served["latest"][0] in served["api"][-2:]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(points) in r.getMessage()]
    assert warnings and len(warnings) == len(set(warnings)), warnings


@pytest.mark.parametrize("damaged", ["the last record", "every record of a chunk", "one record in the middle"])
def test_the_uploader_moves_past_damaged_records(exp: runlog.Experiment, damaged: str) -> None:
    """An uploader reading a points file with records that fail their check sends every good point once,
    in order, and finishes (it used to read a chunk of only damaged records again and again)."""
    import threading

    from upload_helpers import MemoryTarget, uploader

    run = exp.start_logging(outputs=None)
    for i in range(40):
        run.log("a", float(i))
    points = _points_file(run)
    data = bytearray(points.read_bytes())
    bad = {"the last record": [39], "every record of a chunk": list(range(32, 40)), "one record in the middle": [20]}[damaged]
    for i in bad:
        data[i * 32 + 9] ^= 0x01
    points.write_bytes(bytes(data))
    target = MemoryTarget()
    sync = threading.Thread(target=lambda: uploader(run, target, read_chunk=256).sync(), daemon=True)
    sync.start()
    sync.join(60)
    assert not sync.is_alive(), "the uploader is stuck on the damaged records"
    assert [p[1] for p in target.points()] == [float(i) for i in range(40) if i not in bad]


def test_readers_of_what_was_appended_hold_a_format_3_file_to_its_checks(exp: runlog.Experiment, store: Path) -> None:
    """A damaged record appended to a format 3 file without its check bit (zeros over its bytes 5-15: it looks
    like a format 2 record of 0.0) is not served by the readers that read only what was appended since their
    last read (the viewer, the latest values): a file's format is that of its first records."""
    import struct
    import time

    from runlog._store.latest import LatestValues
    from runlog.ui.query import StoreQuery

    run = exp.start_logging(outputs=None)
    for i in range(3):
        run.log("loss", float(i) + 1.0, step=i + 1)
    points = _points_file(run)
    q, latest = StoreQuery(store), LatestValues()
    assert q.run(run.id)["metrics"]["loss"]["count"] == 3 and latest.of(run.path)["loss"][0] == 3.0
    last = points.read_bytes()[-32:]
    with open(points, "ab") as fh:
        fh.write(last[:5] + bytes(11) + last[16:24] + struct.pack("<d", time.time()))
    summary = q.run(run.id)["metrics"]["loss"]
    assert (summary["count"], summary["min"]) == (3, 1.0)
    assert latest.of(run.path)["loss"][0] == 3.0
    assert [p.value for p in runlog.Run(exp, run.id).get_metric_history("loss")] == [1.0, 2.0, 3.0]


def test_a_format_2_record_in_a_format_3_file_is_damage(exp: runlog.Experiment, store: Path) -> None:
    """A record without the check bit among checked records (its type word's high bytes zeroed: a zero fill
    over bytes 4-7, or an old writer's record) is not served: a file is of one format."""
    import struct
    import time

    run = exp.start_logging(outputs=None)
    run.log("loss", 1.5)
    run.log("loss", 2.5)
    run.complete()
    with open(_points_file(run), "ab") as fh:
        fh.write(struct.pack("<IIdqd", 0, 0, 99.0, -(1 << 63), time.time()))
    assert runlog.Run(exp, run.id).get_metrics() == {"loss": [1.5, 2.5]}


def test_lines_of_four_and_six_values_are_not_read_misaligned(exp: runlog.Experiment, store: Path) -> None:
    """Case 4: a 4-element and a 6-element line (10 values, like two lines of 5) are both skipped;
    every other event reads right, in the API, the CLI and the viewer."""
    run = exp.start_logging(outputs=None)
    run.log("phase", "warmup")
    run.complete()
    with open(_metrics_file(run), "a") as fh:
        fh.write('["s","a",1,null]\n[5.0,"s","b",2,null,5.0]\n')
        fh.write('["s","phase","eval",null,1717000001.0]\n')
    metrics = runlog.Run(exp, run.id).get_metrics()
    assert metrics == {"phase": ["warmup", "eval"]}
    _listings_work(store, exp, {run.id})
    result = CliRunner().invoke(main, ["metrics", run.id, "--store", str(store)], catch_exceptions=False)
    assert result.exit_code == 0 and "eval" in result.output


@pytest.mark.parametrize(
    "line",
    [
        ["s", "loss", [1, 2], None, 1.0],
        ["s", "loss", {"a": 1}, None, 1.0],
        ["l", "loss", 3, None, 1.0],
        ["l", "loss", [[1]], None, 1.0],
        ["r", "loss", [1], None, 1.0],
        ["t", "loss", {"a": 1}, None, 1.0],
        ["i", "loss", 7, None, 1.0],
        ["s", ["loss"], 1, None, 1.0],
        ["s", "loss", 1, "step", 1.0],
        ["s", "loss", 1, None, "time"],
        ["n", "loss", "zero", None, 1.0],
    ],
)
def test_wrong_typed_metric_events_are_skipped(exp: runlog.Experiment, store: Path, line: list[Any]) -> None:
    """Case 4: a known metric kind with a wrong-typed field is skipped: get_metrics, the CLI and the viewer read the rest."""
    run = exp.start_logging(outputs=None)
    run.log("loss", 0.5)
    run.log_list("l", [1, 2])
    run.complete()
    with open(_metrics_file(run), "a") as fh:
        fh.write(json.dumps(line) + "\n")
    assert runlog.Run(exp, run.id).get_metrics() == {"loss": 0.5, "l": [1, 2]}
    result = CliRunner().invoke(main, ["metrics", run.id, "--store", str(store)], catch_exceptions=False)
    assert result.exit_code == 0
    _listings_work(store, exp, {run.id})


def test_skipped_lines_are_reported_once_per_file(exp: runlog.Experiment, caplog: pytest.LogCaptureFixture) -> None:
    """Readers report what they skipped once per file, at WARNING on runlog.store, naming the file."""
    run = exp.start_logging(outputs=None)
    run.log("phase", "a")
    run.complete()
    metrics = _metrics_file(run)
    with open(metrics, "a") as fh:
        fh.write("garbage\n")
    with caplog.at_level(logging.DEBUG, logger="runlog"):
        for _ in range(3):
            runlog.Run(exp, run.id).get_metrics()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "runlog.store" and str(metrics) in warnings[0].getMessage()


# -- case 11: durable, shared records ---------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_records_and_uploads_honour_the_umask(exp: runlog.Experiment, tmp_path: Path, umask: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 11: run.json, experiment.json, store.json and uploaded files get 0666 less the umask (not 0600)."""
    old = os.umask(umask)
    monkeypatch.setattr(layout, "_umask", None)
    try:
        src = tmp_path / "f.txt"
        src.write_text("x")
        ws = runlog.Workspace(tmp_path / "shared")
        e = runlog.Experiment(ws, "shared")
        run = e.start_logging(outputs=None)
        run.upload_file("outputs/f.txt", src)
        run.complete()
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for path in (ws.store / layout.STORE_RECORD, e.path / layout.EXPERIMENT_RECORD, run.path / layout.RUN_RECORD,
                 run.path / layout.FILES_DIR / "outputs/f.txt"):  # fmt: skip
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


# -- case 5: the CLI prints data as data ------------------------------------------------------------


def _cli(store: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, [*args, "--store", str(store)], catch_exceptions=False, env=env)
    assert result.exit_code == 0, result.output
    return result.output


MARKUP_VALUES = ["path [/data/imagenet]", "[link=file:///etc/passwd]click[/link]", "[bold red]x[/]", ":smile: [/]"]


def test_markup_in_run_content_is_printed_as_text(exp: runlog.Experiment, store: Path) -> None:
    """Case 5: values, names and tags that look like rich markup are printed literally by runs, metrics and show
    (no MarkupError, `loss[train]` keeps its brackets, no terminal hyperlink), also on a color terminal."""
    run = exp.start_logging(outputs=None)
    for i, value in enumerate(MARKUP_VALUES):
        run.log(f"v{i}", value)
        run.tag(f"t{i}", value)
    run.log("loss[train]", 0.5)
    run.complete()
    for env in (None, {"FORCE_COLOR": "1", "TERM": "xterm-256color"}):
        outputs = [_cli(store, "runs", env=env), _cli(store, "metrics", run.id, env=env), _cli(store, "show", run.id, env=env)]
        for out in outputs:
            assert "\x1b]8;" not in out  # no OSC 8 hyperlink
            assert "loss[train]" in out
        for value in MARKUP_VALUES:
            assert value in outputs[1] and value in outputs[2]


def test_control_characters_in_values_are_shown_not_obeyed(exp: runlog.Experiment, store: Path) -> None:
    """Case 5: an escape sequence or newline inside a value is printed as an escape, not sent to the terminal."""
    run = exp.start_logging(outputs=None)
    run.log("note", "\x1b[2J\x1b]8;;file:///etc/passwd\x07x\nnext")
    run.complete()
    out = _cli(store, "show", run.id)
    assert "\x1b" not in out and "\\x1b[2J" in out and "x\\nnext" in out


def test_long_values_are_cut_with_a_hint_and_json_prints_them_whole(exp: runlog.Experiment, store: Path) -> None:
    """Case 5: a 1 MB value is cut (ellipsis and a hint) by show/metrics/runs; --format json prints it whole."""
    big = "ab" * 500_000
    run = exp.start_logging(outputs=None)
    run.log("big", big)
    run.tag("big", big)
    run.complete()
    for out in (_cli(store, "show", run.id), _cli(store, "metrics", run.id), _cli(store, "runs")):
        assert "--format json" in out and "prints" in out and "…" in out
        assert len(out) < 20_000
    assert json.loads(_cli(store, "show", run.id, "--format", "json"))["metrics"]["big"] == big
    assert json.loads(_cli(store, "metrics", run.id, "--format", "json"))["big"] == big
    assert json.loads(_cli(store, "runs", "--format", "json"))[0]["metrics"]["big"] == big


def test_show_of_a_failed_run_whose_error_is_a_string(exp: runlog.Experiment, store: Path) -> None:
    """Case 13: a Failed status whose error is a plain string (another writer's) is shown, not a crash."""
    run = exp.start_logging(outputs=None)
    run.complete()
    with open(_meta_file(run), "a") as fh:
        fh.write(json.dumps(["status", "Failed", {"error": "disk [on fire]"}, None, 2e9]) + "\n")
    assert "error: disk [on fire]" in _cli(store, "show", run.id)


# -- cases 6-9: full disks, removed folders, replaced logs ------------------------------------------


class FullDisk:
    """Makes every write into one run folder fail with ENOSPC while ``full`` is set (Linux: /proc/self/fd)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, run_dir: Path) -> None:
        import runlog._store.writer as writer_module

        self.full = False
        self.failed = 0
        self.run_dir = str(run_dir)
        real = os.write

        def write(fd: int, data: Any) -> int:
            if self.full:
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    target = ""
                if target.startswith(self.run_dir):
                    self.failed += 1
                    raise OSError(28, "No space left on device")
            return real(fd, data)

        monkeypatch.setattr(writer_module, "_os_write", write)
        monkeypatch.setattr(writer_module.os, "write", write)


pytestmark_linux = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="FullDisk reads /proc/self/fd")


@pytestmark_linux
def test_a_transient_full_disk_does_not_kill_training(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 7: while the disk is full run.log/log_row/log_list keep values in memory (one WARNING), write them
    in order with their own times once it recovers (one WARNING), and nothing is lost."""
    run = exp.start_logging(outputs=None)
    run.log("loss", 0.0, step=0)
    disk = FullDisk(monkeypatch, run.path)
    disk.full = True
    with caplog.at_level(logging.WARNING, logger="runlog"):
        for i in range(1, 2000):
            run.log("loss", float(i), step=i)
        run.log_row("rows", a=1)
        run.log_list("lists", [1, 2])
        run.log("phase", "full")
        assert disk.failed >= 1
        disk.full = False
        run.flush()
        run.log("loss", 2000.0, step=2000)
        run.complete()
    history = runlog.Run(exp, run.id).get_metric_history("loss")
    assert [p.value for p in history] == [float(i) for i in range(2001)]
    assert [p.step for p in history] == list(range(2001))
    metrics = runlog.Run(exp, run.id).get_metrics()
    assert metrics["rows"] == {"a": 1} and metrics["lists"] == [1, 2] and metrics["phase"] == "full"
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("cannot write to the store" in m for m in messages) == 1
    assert sum("takes writes again" in m and "none was lost" in m for m in messages) == 1
    assert runlog.Run(exp, run.id).get_status() == "Completed"


@pytestmark_linux
def test_beyond_the_bound_values_are_dropped_and_reported(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 7: the memory queue is bounded (RUNLOG_PENDING_MAX); what does not fit is dropped, counted per
    name, and flush() names exactly how many values of which metric were lost."""
    monkeypatch.setenv("RUNLOG_PENDING_MAX", "10")
    run = exp.start_logging(outputs=None)
    disk = FullDisk(monkeypatch, run.path)
    disk.full = True
    for i in range(25):
        run.log("loss", float(i))
    for i in range(5):
        run.log("acc", float(i))
    disk.full = False
    with caplog.at_level(logging.WARNING, logger="runlog"):
        run.flush()
    assert runlog.Run(exp, run.id).get_metrics()["loss"] == [float(i) for i in range(10)]
    lost = [r.getMessage() for r in caplog.records if "were lost" in r.getMessage()]
    assert lost and "20 value(s) were lost" in lost[0] and "loss (15)" in lost[0] and "acc (5)" in lost[0]
    run.complete()


@pytestmark_linux
def test_strict_mode_raises_at_once(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 7: RUNLOG_STRICT=1 (or start_logging(strict=True)) keeps the raise-at-once behaviour."""
    monkeypatch.setenv("RUNLOG_STRICT", "1")
    run = exp.start_logging(outputs=None)
    other = exp.start_logging(outputs=None, strict=False)
    disk = FullDisk(monkeypatch, run.path)
    disk.full = True
    with pytest.raises(runlog.StoreError, match="Free disk space"):
        run.log("loss", 1.0)
    other.log("loss", 1.0)  # not strict, and another folder: written
    disk.full = False
    run.complete()
    other.complete()
    monkeypatch.delenv("RUNLOG_STRICT")
    strict = exp.start_logging(outputs=None, strict=True)
    disk.run_dir = str(strict.path)
    disk.full = True
    with pytest.raises(runlog.StoreError):
        strict.log("x", 1.0)
    disk.full = False
    strict.complete()


@pytestmark_linux
def test_a_failed_complete_can_be_retried(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 6: complete() that fails on a full disk leaves the run open (log works, messages agree with the
    store), and complete() again once the disk has room ends it."""
    run = exp.start_logging(outputs=None)
    disk = FullDisk(monkeypatch, run.path)
    disk.full = True
    with pytest.raises(runlog.StoreError, match=r"could not be marked Completed .*still Running: call run\.complete\(\) again"):
        run.complete()
    assert run.get_status() == "Running" and not run._finished
    disk.full = False
    run.log("after", 1.0)
    run.complete()
    assert runlog.Run(exp, run.id).get_status() == "Completed"
    assert runlog.Run(exp, run.id).get_metrics() == {"after": 1.0}
    run.complete()  # a second call is a no-op, as before


def test_a_removed_run_folder_is_noticed_and_reported_once(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 8: removing the run folder under a running run is noticed by the writer (within a second) and
    reported once; log calls keep the program alive, strict mode raises."""
    import shutil

    import runlog._store.writer as writer_module

    clock = [2e9]
    monkeypatch.setattr(writer_module, "_now", lambda: clock[0])
    monkeypatch.setenv("RUNLOG_PENDING_MAX", "100")
    run = exp.start_logging(outputs=None)
    run.log("loss", 1.0)
    shutil.rmtree(run.path)
    with caplog.at_level(logging.WARNING, logger="runlog"):
        for _ in range(1000):
            run.log("loss", 2.0)
            clock[0] += 0.01
        with pytest.raises(runlog.StoreError, match="was removed"):
            run.complete()
    removed = [r for r in caplog.records if r.name == "runlog.store" and "was removed" in r.getMessage()]
    assert len(removed) == 1
    assert any("cannot write to the store" in r.getMessage() for r in caplog.records)
    strict = exp.start_logging(outputs=None, strict=True)
    strict.log("x", 1.0)
    shutil.rmtree(strict.path)
    clock[0] += 2
    with pytest.raises(runlog.StoreError, match="was removed"):
        strict.log("x", 2.0)
    run._finished = strict._finished = True  # nothing left to end: the folders are gone


def test_uploading_over_a_live_driver_log_is_refused(exp: runlog.Experiment, tmp_path: Path) -> None:
    """Case 9: upload_file("logs/driver_log.txt") and upload_folder("logs", ...) holding one are refused
    (nothing of the folder is copied); the live log keeps every later line."""
    log = logging.getLogger("case9")
    run = exp.start_logging(outputs=None)
    handler = runlog.RunHandler()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("before")
        src = tmp_path / "fake.txt"
        src.write_text("not the log\n")
        with pytest.raises(InvalidArgumentError, match=r"live log .*outputs/driver_log\.txt"):
            run.upload_file("logs/driver_log.txt", src)
        folder = tmp_path / "logs"
        folder.mkdir()
        (folder / "a.txt").write_text("a")
        (folder / "driver_log.txt").write_text("x")
        with pytest.raises(InvalidArgumentError):
            run.upload_folder("logs", folder)
        assert "logs/a.txt" not in run.get_file_names()
        log.info("after")
    finally:
        log.removeHandler(handler)
        handler.close()
    run.complete()
    text = (run.path / layout.FILES_DIR / layout.DRIVER_LOG).read_text()
    assert "before" in text and "after" in text and "not the log" not in text


# -- case 10: the viewer never leaves the store; case 12: download names ----------------------------

SECRET = "the secret outside the store"


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "logs").mkdir(parents=True, exist_ok=True)
    (outside / "shadow").write_text(SECRET)
    (outside / "logs" / "shadow.txt").write_text(SECRET)
    return outside


def _symlink_shapes(tmp_path: Path, exp: runlog.Experiment) -> dict[str, runlog.Run]:
    """One run per symlink shape that leads out of the store."""
    import shutil

    outside = _outside(tmp_path)
    shapes: dict[str, runlog.Run] = {}
    # the run's files folder is a link to a folder outside
    run = exp.start_logging(outputs=None)
    run.complete()
    shutil.rmtree(run.path / layout.FILES_DIR)
    os.symlink(outside, run.path / layout.FILES_DIR)
    shapes["files folder"] = run
    # the run folder itself is a link to a run (with the secret among its files) outside the store
    run = exp.start_logging(outputs=None)
    run.complete()
    moved = tmp_path / "moved-run"
    shutil.move(str(run.path), moved)
    (moved / layout.FILES_DIR / "shadow").write_text(SECRET)
    (moved / layout.FILES_DIR / "logs").mkdir(exist_ok=True)
    (moved / layout.FILES_DIR / "logs" / "shadow.txt").write_text(SECRET)
    os.symlink(moved, run.path)
    shapes["run folder"] = run
    # a subfolder of files/ and a file of files/ are links out
    run = exp.start_logging(outputs=None)
    run.complete()
    os.symlink(outside, run.path / layout.FILES_DIR / "sub")
    os.symlink(outside / "shadow", run.path / layout.FILES_DIR / "shadow")
    (run.path / layout.FILES_DIR / "logs").mkdir(exist_ok=True)
    os.symlink(outside / "logs" / "shadow.txt", run.path / layout.FILES_DIR / "logs" / "shadow.txt")
    shapes["file and subfolder"] = run
    return shapes


def test_the_viewer_never_serves_a_file_from_outside_the_store(exp: runlog.Experiment, store: Path, tmp_path: Path) -> None:
    """Case 10: with the files folder, the run folder, a subfolder or a file being a symlink out of the store,
    the file API, the log API, the file list and Download-all serve nothing from outside."""
    shapes = _symlink_shapes(tmp_path, exp)
    with _viewer(store) as client:
        assert client.get("/api/runs").status_code == 200
        for shape, run in shapes.items():
            for name in ("shadow", "sub/shadow", "logs/shadow.txt"):
                resp = client.get(f"/api/runs/{run.id}/files/{name}")
                assert resp.status_code in (400, 404), (shape, name, resp.status_code)
                assert SECRET not in resp.text
            resp = client.get(f"/api/runs/{run.id}/logs", params={"name": "logs/shadow.txt"})
            assert resp.status_code in (400, 404) and SECRET not in resp.text, shape
            listed = client.get(f"/api/runs/{run.id}/files").json()["files"]
            assert not any("shadow" in f["name"] for f in listed), shape
            page = client.get(f"/api/runs/{run.id}").json()
            assert not any("shadow" in f["name"] for f in page["files"]), shape
            zipped = client.get(f"/api/runs/{run.id}/download")
            assert zipped.status_code == 200 and SECRET.encode() not in zipped.content, shape


def test_links_inside_the_run_and_a_linked_store_still_serve(tmp_path: Path) -> None:
    """Case 10: what stays inside is served: a link between two files of the run, and a store folder that is
    itself a link (~/runlog-store -> /data/store)."""
    real = tmp_path / "real-store"
    ws = runlog.Workspace(real)
    run = runlog.Experiment(ws, "linked").start_logging(outputs=None)
    src = tmp_path / "model.txt"
    src.write_text("weights")
    run.upload_file("outputs/model.txt", src)
    os.symlink(run.path / layout.FILES_DIR / "outputs/model.txt", run.path / layout.FILES_DIR / "outputs/alias.txt")
    run.complete()
    link = tmp_path / "store-link"
    os.symlink(real, link)
    with _viewer(link) as client:
        for name in ("outputs/model.txt", "outputs/alias.txt"):
            resp = client.get(f"/api/runs/{run.id}/files/{name}")
            assert resp.status_code == 200 and resp.text == "weights", name


def test_download_all_of_a_run_with_a_non_latin1_name(tmp_path: Path) -> None:
    """Case 12: Download-all of a run of an experiment named in another script answers 200 with an RFC 5987 name."""
    ws = runlog.Workspace(tmp_path / "s")
    run = runlog.Experiment(ws, "exp_实验").start_logging(outputs=None)
    run.log("a", 1.0)
    run.complete()
    with _viewer(ws.store) as client:
        resp = client.get(f"/api/runs/{run.id}/download")
        assert resp.status_code == 200, resp.text
        assert "filename*=utf-8''" in resp.headers["content-disposition"]
        assert resp.content[:2] == b"PK"


def test_an_unreadable_run_json_says_why_and_listings_go_on(
    exp: runlog.Experiment, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 11: a run.json another user cannot read (PermissionError) is no traceback: `runlog show` says
    what to ask for and `runlog runs` still lists every run."""
    import errno

    good, bad = _two_runs(exp)
    real = layout.read_json
    target = bad.path / layout.RUN_RECORD

    def read_json(path: Path) -> Any:
        if Path(path) == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(layout, "read_json", read_json)
    out = _cli(store, "show", bad.id)
    assert "cannot be read (Permission denied)" in out and "chmod" in out
    runs = _cli(store, "runs")
    assert good.id in runs and bad.id in runs
