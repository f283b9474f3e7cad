"""runlog.ui.logs: whole lines of a log (followed or paged back), every rank's log as one, a zip streamed."""

from __future__ import annotations

import io
import random
import re
import zipfile
from pathlib import Path

import pytest

import runlog
from runlog.ui.logs import Chunks, parse_offsets, rank_log_names, read_log, read_rank_logs, zip_chunks
from runlog.ui.query import StoreQuery


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


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def test_following_a_log_gives_whole_lines_and_a_reset_when_it_shrank(tmp_path: Path) -> None:
    log = write(tmp_path / "log.txt", "one\ntwo\nthr")
    first = read_log("r", "logs/x", log, offset=0)
    assert (first["text"], first["next_offset"], first["size"], first["reset"]) == ("one\ntwo\n", 8, 11, False)
    with open(log, "ab") as fh:
        fh.write(b"ee\n")
    assert read_log("r", "logs/x", log, offset=first["next_offset"])["text"] == "three\n"
    partial = read_log("r", "logs/x", log, offset=14)
    assert partial["text"] == "" and partial["next_offset"] == 14  # caught up
    write(log, "new\n")
    shrunk = read_log("r", "logs/x", log, offset=14)
    assert (shrunk["reset"], shrunk["offset"], shrunk["text"]) == (True, 0, "new\n")


def test_a_line_longer_than_max_bytes_is_given_in_pieces(tmp_path: Path) -> None:
    log = write(tmp_path / "log.txt", "x" * 3000)
    piece = read_log("r", "n", log, offset=0, max_bytes=1024)
    assert piece["text"] == "x" * 1024 and piece["next_offset"] == 1024


def test_rank_logs_are_found_and_offsets_parsed() -> None:
    names = ["logs/driver_log_rank_1.txt", "logs/driver_log.txt", "logs/driver_log_rank_0.txt", "outputs/a"]
    assert rank_log_names(names) == {0: "logs/driver_log_rank_0.txt", 1: "logs/driver_log_rank_1.txt"}
    assert parse_offsets("0:12, 1:-1,") == {0: 12, 1: -1}
    assert parse_offsets(None) == {} and parse_offsets("") == {}
    for bad in ("0", "a:1", "0:x"):
        with pytest.raises(ValueError, match="RANK:OFFSET"):
            parse_offsets(bad)


def test_every_rank_s_log_is_one_view_interleaved_by_time(tmp_path: Path) -> None:
    zero = write(tmp_path / "0.txt", "2026-01-01T00:00:01.000Z a\n2026-01-01T00:00:03.000Z c\n")
    one = write(tmp_path / "1.txt", "2026-01-01T00:00:02.000Z b\n")
    view = read_rank_logs("r", {0: ("logs/driver_log_rank_0.txt", zero), 1: ("logs/driver_log_rank_1.txt", one)})
    assert [(line["rank"], line["text"][-1]) for line in view["lines"]] == [(0, "a"), (1, "b"), (0, "c")]
    assert view["text"].splitlines()[1] == "[rank 1] 2026-01-01T00:00:02.000Z b"
    assert view["next_offsets"] == f"0:{zero.stat().st_size},1:{one.stat().st_size}" and view["reset"] is False
    again = read_rank_logs("r", {0: ("a", zero), 1: ("b", one)}, parse_offsets(view["next_offsets"]))
    assert again["lines"] == []


def test_chunks_keep_what_was_written_until_taken() -> None:
    out = Chunks()
    assert out.write(b"ab") == 2 and out.write(memoryview(b"cd")) == 2
    assert (out.tell(), out.size) == (4, 4)
    assert out.take() == b"abcd" and (out.tell(), out.size) == (4, 0)
    assert out.take() == b""


def test_a_streamed_zip_holds_every_file_of_the_run(store: Path, tmp_path: Path) -> None:
    run = runlog.Experiment(runlog.Workspace(store), "z").start_logging(outputs=False)
    (tmp_path / "big.bin").write_bytes(random.Random(0).randbytes(100_000))  # (does not compress)
    run.upload_file("outputs/big.bin", str(tmp_path / "big.bin"))
    run._writer.write_log("hello\n")
    names: list[str] = []
    parts = list(zip_chunks(run._reader, names, chunk=4096))
    assert len(parts) > 1
    with zipfile.ZipFile(io.BytesIO(b"".join(parts))) as zf:
        assert sorted(zf.namelist()) == sorted(names) == ["logs/driver_log.txt", "outputs/big.bin"]
        assert zf.read("outputs/big.bin") == (tmp_path / "big.bin").read_bytes()
    run.complete()
