"""runlog._upload._state: the cursor, the cross-process lock, the counts and what is pending."""

from __future__ import annotations

from pathlib import Path

from upload_helpers import MemoryTarget, uploader

import runlog
from runlog._upload._cursor import FileCursor, UploadCursor
from runlog._upload._state import Pending, UploadLock, UploadState


def test_pending_counts_points_and_not_name_definitions(run: runlog.Run) -> None:
    """pending(): points left (bytes / 32) plus metric lines left, never the 'n' lines that name the points."""
    for i in range(10):
        run.log("a", float(i))
        run.log(f"name{i}", i)  # a new name each time: ten more 'n' lines
    run.log("s", "text")
    up = uploader(run, MemoryTarget())
    left = up.pending()
    metrics = next((run.path / "events").glob("*.metrics.jsonl"))
    assert metrics.read_text().count('["n"') == 11
    assert left.metric_events == 21
    assert left.metric_bytes == metrics.stat().st_size + 20 * 32
    up.sync()
    assert up.pending().metric_events == 0 and up.pending().metric_bytes == 0


def test_one_upload_lock_holder_at_a_time(tmp_path: Path) -> None:
    """A second lock on the same file (another open file, as in another process) is refused until the first is released."""
    first, second = UploadLock(tmp_path / "upload" / "t.lock"), UploadLock(tmp_path / "upload" / "t.lock")
    assert first.acquire() and first.held
    assert first.acquire()  # taking it again is a no-op
    assert not second.acquire() and not second.held
    first.release()
    assert not first.held
    assert second.acquire()
    second.forget()  # a forked child: the descriptor is closed, which in a real fork leaves the parent's lock
    assert not second.held
    assert UploadLock(tmp_path / "upload" / "t.lock").acquire()


def test_a_lock_that_cannot_be_created_is_not_taken(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert not UploadLock(tmp_path / "file" / "upload" / "t.lock").acquire()


def test_pending_is_true_only_with_something_to_send() -> None:
    assert not Pending()
    assert not Pending(metric_events=3)  # events are counted from the bytes: no bytes, nothing to send
    assert Pending(meta_bytes=1) and Pending(files=["outputs/a"])
    assert Pending(metric_bytes=2, meta_bytes=3, file_bytes=5).total_bytes == 10


def test_every_advance_is_saved_at_once(run: runlog.Run) -> None:
    state = UploadState(run.path, run._reader, "t", "http://x")
    state.advance_metrics("p.points.bin", FileCursor(64, {"a": 2}))
    state.advance_meta("p.meta.jsonl", 10)
    state.file_sent("outputs/a", [1, 2])
    saved = UploadCursor.load(run.path, "t", "http://x")
    assert saved.metrics == {"p.points.bin": FileCursor(64, {"a": 2})}
    assert saved.meta == {"p.meta.jsonl": 10} and saved.files == {"outputs/a": [1, 2]}
    assert UploadState(run.path, run._reader, "t", "http://x").cursor == saved


def test_pending_lists_the_files_changed_since_they_were_sent(run: runlog.Run, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    run.upload_file("outputs/a.txt", str(tmp_path / "a.txt"))
    state = UploadState(run.path, run._reader, "t", "")
    assert "outputs/a.txt" in state.pending().files
    st = (run.path / "files" / "outputs" / "a.txt").stat()
    state.file_sent("outputs/a.txt", [st.st_size, st.st_mtime_ns])
    assert "outputs/a.txt" not in state.pending().files
    (run.path / "files" / "outputs" / "a.txt").write_text("hello again")
    left = state.pending()
    assert "outputs/a.txt" in left.files and left.file_bytes >= len("hello again")
