"""The viewer's log and download answers: whole lines of a log file (tail -f style, or paging back)
and a run's files zipped while they are sent."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._jobs.stream import RANK_LOG, interleave_ranks, rank_prefix
from .._store import RunReader

__all__ = ["LOG_CHUNK", "parse_offsets", "rank_log_names", "read_log", "read_rank_logs", "zip_chunks"]

LOG_CHUNK = 256 * 1024


def read_log(
    run_id: str, name: str, path: Path, offset: int | None = None, max_bytes: int = LOG_CHUNK, before: int | None = None
) -> dict[str, Any]:
    """Whole lines of log ``name`` (at ``path``) from byte ``offset`` (default: its last ``max_bytes``).

    Poll with ``offset=next_offset`` to follow it like ``tail -f``; a partial last
    line is left for the next call. ``reset`` is true when the file shrank.
    ``before=N``: the whole lines that end at byte ``N`` (the ``offset`` of what is
    shown), to page back towards the start.
    """
    max_bytes = max(1024, min(int(max_bytes), 4 << 20))
    if before is not None:
        if offset is not None:
            raise ValueError("pass offset= (read forward) or before= (read back), not both")
        return _read_before(run_id, name, path, before, max_bytes)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        reset = False
        if offset is None:
            start = max(0, size - max_bytes)
        elif offset > size or offset < 0:
            start, reset = 0, offset > size
        else:
            start = offset
        fh.seek(start)
        data = fh.read(min(max_bytes, size - start))
    if offset is None and start > 0:
        cut = data.find(b"\n")
        start, data = (start + cut + 1, data[cut + 1 :]) if cut >= 0 else (start, data)
    end = data.rfind(b"\n")
    if end >= 0:
        data = data[: end + 1]
    elif len(data) < max_bytes:
        data = b""  # only a partial line so far: wait for its end
    return {
        "run_id": run_id,
        "name": name,
        "offset": start,
        "next_offset": start + len(data),
        "size": size,
        "reset": reset,
        "text": data.decode("utf-8", "replace"),
    }


def rank_log_names(names: list[str]) -> dict[int, str]:
    """The driver log of each rank among a run's file ``names`` (``logs/driver_log_rank_<N>.txt``), by rank."""
    found = {int(m.group(1)): n for n in names if (m := RANK_LOG.match(n))}
    return dict(sorted(found.items()))


def parse_offsets(text: str | None) -> dict[int, int]:
    """``?offsets=0:1234,1:5678`` (a previous answer's ``next_offsets``) as ``{rank: byte offset}``."""
    found: dict[int, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        rank, sep, offset = part.partition(":")
        if not sep or not rank.strip().isdigit() or not offset.strip().lstrip("-").isdigit():
            raise ValueError(f"query parameter 'offsets' is RANK:OFFSET pairs, e.g. 0:1234,1:5678 (next_offsets of the last answer); got {text!r}")
        found[int(rank)] = int(offset)
    return found


def read_rank_logs(
    run_id: str, logs: dict[int, tuple[str, Path]], offsets: dict[int, int] | None = None, max_bytes: int = LOG_CHUNK
) -> dict[str, Any]:
    """Every rank's driver log as one view: whole lines of each (as :func:`read_log`, from ``offsets[rank]``,
    else its last ``max_bytes``), interleaved by the time each line starts with (else rank by rank),
    each line in ``text`` prefixed ``[rank N]``. Poll with ``offsets=next_offsets`` to follow."""
    offsets = offsets or {}
    parts = {rank: read_log(run_id, name, path, offsets.get(rank), max_bytes) for rank, (name, path) in logs.items()}
    lines = interleave_ranks({rank: part["text"].splitlines() for rank, part in parts.items()})
    return {
        "run_id": run_id,
        "rank": "all",
        "logs": [{"rank": rank, **{k: v for k, v in part.items() if k not in ("run_id", "text")}} for rank, part in parts.items()],
        "next_offsets": ",".join(f"{rank}:{part['next_offset']}" for rank, part in parts.items()),
        "reset": any(part["reset"] for part in parts.values()),
        "lines": [{"rank": rank, "text": line} for rank, line in lines],
        "text": "".join(f"{rank_prefix(rank)}{line}\n" for rank, line in lines),
    }


def _read_before(run_id: str, name: str, path: Path, before: int, max_bytes: int) -> dict[str, Any]:
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        end = max(0, min(before, size))
        start = max(0, end - max_bytes)
        fh.seek(start)
        data = fh.read(end - start)
    if start > 0:
        cut = data.find(b"\n")
        if cut >= 0:
            start, data = start + cut + 1, data[cut + 1 :]
    return {
        "run_id": run_id,
        "name": name,
        "offset": start,
        "next_offset": end,
        "size": size,
        "reset": False,
        "text": data.decode("utf-8", "replace"),
    }


class Chunks:
    """A write-only, unseekable file that keeps what was written until :meth:`take` (for streaming a zip)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts, self.size = b"".join(self.parts), [], 0
        return data




def zip_chunks(reader: RunReader, names: list[str], chunk: int) -> Iterator[bytes]:
    """A zip of every file of the run, about ``chunk`` bytes at a time (``names`` gets the names zipped)."""
    out = Chunks()
    # Not seekable: each file's sizes follow its data. strict_timestamps=False: a file dated
    # before 1980 (a zip cannot say) is stored dated 1980, not left out.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as zf:
        for name in reader.file_names():
            try:
                path = reader.file_path(name)
                if not path.is_file():
                    continue
                info = zipfile.ZipInfo.from_file(path, name, strict_timestamps=False)
                src = open(path, "rb")
            except (ValueError, OSError):  # outside the run, or gone since it was listed
                continue
            info.compress_type = zipfile.ZIP_DEFLATED
            # A read error from here on ends the download (it is not a whole zip), rather
            # than storing a truncated file that looks whole.
            with src, zf.open(info, "w", force_zip64=info.file_size > 1 << 30) as dst:
                while data := src.read(chunk):
                    dst.write(data)
                    if out.size >= chunk:
                        yield out.take()
            names.append(name)
    yield out.take()
