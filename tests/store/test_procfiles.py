"""runlog._store.procfiles: one process's events files of a run, and going on in new ones after a torn write."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from runlog import Experiment, StoreError
from runlog._store import layout
from runlog._store.procfiles import ProcessFiles, _cut_torn_end, _next_proc
from runlog._store.records import pack_float
from runlog._store.writer import RunWriter


def test_the_store_debug_record_of_a_first_name_can_log_a_metric_from_another_thread(exp: Experiment) -> None:
    """A logging handler on runlog.store that, on the 'opened metric events file' record, waits for another
    thread logging a new metric does not deadlock: the writer logs after releasing its lock."""
    import logging
    import threading

    run = exp.start_logging()
    finished: list[bool] = []

    class Waits(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "opened metric events file" in record.getMessage():
                worker = threading.Thread(target=run.log, args=("from_worker", 1.0))
                worker.start()
                worker.join(5)
                finished.append(not worker.is_alive())  # it logged while this record was being handled

    logger = logging.getLogger("runlog.store")
    handler = Waits(logging.DEBUG)
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        run.log("first", 1.0)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    assert finished == [True]
    assert run.get_metrics() == {"from_worker": 1.0, "first": 1.0}


def test_a_write_that_fails_half_way_does_not_shift_later_points(
    exp: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk tears a 32-byte record (half written, then ENOSPC): run.log raises StoreError, and the
    process goes on in new events files, so every later point reads back (only the torn one is lost)."""
    import errno

    import runlog._store.writer as writer_module

    run = exp.start_logging(strict=True)  # strict: the StoreError is raised, not kept for later (issue 17)
    run.log("loss", 0.5)
    points_fd = run._writer._points_fd
    real_write = os.write

    def half(fd: int, data: bytes) -> int:
        return real_write(fd, data[:16]) if fd == points_fd else real_write(fd, data)

    def full(fd: int, data: bytes) -> int:
        if fd == points_fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(writer_module, "_os_write", half)
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StoreError, match="Free disk space"):
        run.log("loss", 99.0)
    monkeypatch.undo()
    for i in range(10):
        run.log("loss", float(i))
    # another thread that read the old descriptor before the switch writes a whole point there late:
    # the torn half was cut off the old file, so that point lands whole
    RunWriter._write(points_fd, pack_float(0, 10.0, -(1 << 63), time.time()))
    assert run.get_metrics()["loss"] == [0.5] + [float(i) for i in range(11)]
    sizes = sorted(p.stat().st_size % 32 for p in (run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX))
    assert sizes == [0, 0]
    stems = sorted(
        p.name[: -len(layout.POINTS_SUFFIX)] for p in (run.path / layout.EVENTS_DIR).glob("*" + layout.POINTS_SUFFIX)
    )
    assert stems[1] == stems[0] + ".1"  # the same process's files: a rank keeps them (get_rank_metrics)


def test_names_keep_their_ids_in_the_files_a_process_goes_on_in(exp: Experiment) -> None:
    """After a torn write the process goes on in new files where every name is defined again with the same
    id: a point another thread packed with an id just before the switch reads back under its own name."""
    run = exp.start_logging()
    run.log("loss", 1.0)
    run.log("acc", 0.5)
    writer = run._writer
    nid = writer._ids["acc"]  # what another thread read just before the switch
    writer._abandon_events()
    late = pack_float(nid, 0.75, -(1 << 63), time.time())
    writer._append(writer._open_points(), late)
    run.log("loss", 2.0)
    assert run.get_metrics() == {"loss": [1.0, 2.0], "acc": [0.5, 0.75]}


def test_a_short_write_of_a_line_is_cut_and_a_late_line_lands_whole(
    exp: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON line the disk took only half of: run.log raises, the half line is cut off the old metrics file,
    a whole line another thread appends there late reads back, and logging goes on in the new files."""
    run = exp.start_logging(strict=True)  # strict: the StoreError is raised, not kept for later (issue 17)
    run.log("phase", "one")
    metrics_fd = run._writer._metrics_fd
    real_write = os.write

    def half(fd: int, data: bytes) -> int:
        return real_write(fd, data[: len(data) // 2]) if fd == metrics_fd else real_write(fd, data)

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(StoreError, match="only part"):
        run.log("phase", "torn")
    monkeypatch.undo()
    RunWriter._write(metrics_fd, b'["s","phase","late",null,' + repr(time.time()).encode() + b"]\n")
    run.log("phase", "three")
    assert run.get_metrics()["phase"] == ["one", "late", "three"]


def test_next_proc_numbers_the_same_process_files() -> None:
    assert _next_proc("host-12-abcdef") == "host-12-abcdef.1"
    assert _next_proc("host-12-abcdef.1") == "host-12-abcdef.2"
    assert _next_proc("host-12-abcdef.9") == "host-12-abcdef.10"


@pytest.mark.parametrize(
    ("content", "kept"),
    [
        (b'["s","a",1,null,1.0]\n["s","a",2', b'["s","a",1,null,1.0]\n'),
        (b'["s","a",1,null,1.0]\n', b'["s","a",1,null,1.0]\n'),
        (b'["s","a",2', b'["s","a",2'),  # no whole line to keep: left as it is
        (b"", b""),
    ],
)
def test_cut_torn_end_of_a_lines_file(tmp_path: Path, content: bytes, kept: bytes) -> None:
    path = tmp_path / "p.metrics.jsonl"
    path.write_bytes(content)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        _cut_torn_end(fd, path, 0)
    finally:
        os.close(fd)
    assert path.read_bytes() == kept


def test_cut_torn_end_of_a_records_file_keeps_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "p.points.bin"
    record = pack_float(0, 1.5, layout.NO_STEP, 1.0)
    path.write_bytes(record * 2 + record[:13])
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        _cut_torn_end(fd, path, layout.POINT_SIZE)
    finally:
        os.close(fd)
    assert path.read_bytes() == record * 2


def test_files_are_opened_on_first_use_and_named_after_the_process(exp: Experiment) -> None:
    run = exp.start_logging()
    writer = run._writer
    assert isinstance(writer, ProcessFiles)
    writer.close()
    assert writer._metrics_fd == writer._points_fd == writer._meta_fd == -1
    run.log("phase", "a")  # a JSON line: the metrics file only
    names = sorted(p.name for p in (run.path / layout.EVENTS_DIR).iterdir())
    proc = writer._proc_id()
    assert proc + layout.METRICS_SUFFIX in names
    assert proc.split("-")[-2] == str(os.getpid())
    assert writer._metrics_fd >= 0 and writer._points_fd == -1


def test_a_removed_run_folder_is_not_recreated_by_opening_a_file(exp: Experiment) -> None:
    run = exp.start_logging()
    writer = run._writer
    writer.close()
    shutil.rmtree(run.path)
    with pytest.raises(StoreError, match="was removed"):
        writer._open_meta()
    assert not run.path.exists()
    run._finished = True  # nothing left to end


def test_sync_and_close_leave_what_was_written(exp: Experiment) -> None:
    run = exp.start_logging()
    run.log("loss", 0.5)
    run._writer.sync()
    run._writer.close()
    assert run._writer._log_fds == {} and run._writer._points_fd == -1
    run.log("loss", 0.25)  # opened again
    assert run.get_metrics() == {"loss": [0.5, 0.25]}


def test_a_name_defined_is_copied_into_the_meta_file(exp: Experiment) -> None:
    run = exp.start_logging()
    run.log("loss", 0.5)
    meta = (run.path / layout.EVENTS_DIR / (run._writer._proc_id() + layout.META_SUFFIX)).read_text()
    assert '["n","loss",0,null,' in meta


def test_the_abandoned_files_keep_what_was_written_and_new_ones_follow(exp: Experiment) -> None:
    run = exp.start_logging()
    run.log("loss", 1.0)
    writer = run._writer
    before = writer._proc_id()
    writer._abandon_events()
    assert writer._proc_id() == before + ".1"
    run.log("loss", 2.0)
    stems = {p.name.split(".metrics")[0] for p in (run.path / layout.EVENTS_DIR).glob("*" + layout.METRICS_SUFFIX)}
    assert stems == {before, before + ".1"}
    assert run.get_metrics() == {"loss": [1.0, 2.0]}
