"""runlog.ui.query: the viewer's read side (StoreQuery), no web framework needed."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

import runlog
from runlog._errors import RunNotFound
from runlog.ui.query import StoreQuery


def test_warming_up_parses_only_the_newest_runs(seeded: dict[str, Any]) -> None:
    """The server's background warm-up parses the newest runs (the table's first pages), not the whole store."""
    from runlog.ui.query import StoreQuery

    query = StoreQuery(seeded["store"])
    newest = [r["id"] for r in query.runs(max_results=2)["runs"]]
    fresh = StoreQuery(seeded["store"])
    fresh.warm(runs=2)
    assert sorted(fresh._runs) == sorted(newest)
    assert all(cache.record is not None for cache in fresh._runs.values())  # parsed, not only listed


def test_experiments_with_their_run_counts(store: Path) -> None:
    ws = runlog.Workspace(store)
    for name, count in (("a", 2), ("b", 1)):
        for _ in range(count):
            runlog.Experiment(ws, name).start_logging(outputs=False).complete()
    assert StoreQuery(store).experiments() == [{"name": "a", "runs": 2}, {"name": "b", "runs": 1}]
    assert StoreQuery(store / "missing").experiments() == []


def test_an_unknown_or_unsafe_run_id_is_run_not_found(store: Path) -> None:
    runlog.Workspace(store)
    q = StoreQuery(store)
    for run_id in ("nope", "..", "../experiments", "a/b", ""):
        with pytest.raises(RunNotFound):
            q.run(run_id)


def test_a_run_page_lists_metrics_files_logs_and_children(store: Path, tmp_path: Path) -> None:
    exp = runlog.Experiment(runlog.Workspace(store), "page")
    run = exp.start_logging(outputs=False)
    run.log("loss", 0.5)
    run.log_row("eval", acc=0.9)
    (tmp_path / "p.png").write_bytes(b"png")
    run.upload_file("outputs/p.png", str(tmp_path / "p.png"))
    run._writer.write_log("hi\n")
    child = run.child_run()
    child.complete()
    page = StoreQuery(store).run(run.id)
    assert [m["name"] for m in page["metrics_list"]] == ["eval", "loss"]
    assert page["metrics_list"][0]["kind"] == "table" and page["metrics_list"][1]["last"] == 0.5
    assert {f["name"]: f["image"] for f in page["files"]} == {"logs/driver_log.txt": False, "outputs/p.png": True}
    assert page["logs"] == ["logs/driver_log.txt"] and page["live"] is True
    assert [c["id"] for c in page["children"]] == [child.id]
    run.complete()
    assert StoreQuery(store).run(run.id)["live"] is False


def test_file_paths_are_checked_and_rank_logs_named(store: Path) -> None:
    run = runlog.Experiment(runlog.Workspace(store), "f").start_logging(outputs=False)
    run._writer.write_log("line\n")
    q = StoreQuery(store)
    assert q.file_path(run.id, "logs/driver_log.txt").read_text() == "line\n"
    with pytest.raises(ValueError):
        q.file_path(run.id, "../run.json")
    with pytest.raises(FileNotFoundError, match="no file 'outputs/x'"):
        q.file_path(run.id, "outputs/x")
    with pytest.raises(ValueError, match="no driver log of rank 1; its ranks: none"):
        q.rank_log_name(run.id, 1)
    view = q.rank_logs(run.id)  # a single process: its driver log as rank 0
    assert [line["text"] for line in view["lines"]] == ["line"] and view["logs"][0]["rank"] == 0
    run.complete()


def test_zip_to_writes_the_run_s_files(store: Path) -> None:
    run = runlog.Experiment(runlog.Workspace(store), "z").start_logging(outputs=False)
    run._writer.write_log("x\n")
    out = io.BytesIO()
    assert StoreQuery(store).zip_to(run.id, out) == ["logs/driver_log.txt"]
    with zipfile.ZipFile(out) as zf:
        assert zf.read("logs/driver_log.txt") == b"x\n"
    with pytest.raises(RunNotFound):
        StoreQuery(store).iter_zip("nope")
    run.complete()
