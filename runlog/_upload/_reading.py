"""Reading a run's store for upload: whole lines and points records from a byte offset on.

The uploader reads events files from its cursor, never more than a chunk at a time: whole
JSON lines of a ``*.metrics.jsonl`` / ``*.meta.jsonl`` file (a torn last line waits for its
end), whole 32-byte records of a ``*.points.bin`` file, and the name definitions (``n`` lines)
that give the records' ids their names. :func:`iter_metric_events` reads every metric event of
a run, files merged by time (the MLflow target's table artifacts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .._store import layout
from .._store.layout import POINT_SIZE
from .._store.reader import EventColumns, decode_points, merge_by_time, parse_columns, point_names, points_path

__all__ = [
    "NAME_LINE",
    "event_files",
    "file_size",
    "iter_metric_events",
    "metrics_path",
    "parse_chunk",
    "read_records",
    "read_whole_lines",
    "scan_point_names",
]


def parse_chunk(data: bytes) -> list[Any]:
    """Parse whole lines (``data`` ends with a newline); a bad line becomes None."""
    lines = data.split(b"\n")[:-1]
    try:
        parsed = json.loads(b"[" + b",".join(lines) + b"]")
        if isinstance(parsed, list) and len(parsed) == len(lines):
            return parsed
    except ValueError:
        pass
    out: list[Any] = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(None)
    return out


def read_records(path: Path, offset: int, end: int, limit: int) -> bytes:
    """The whole points records from ``offset`` (a multiple of the record size) below ``end``, at most ``limit`` bytes."""
    size = max(POINT_SIZE, min(limit, end - offset)) // POINT_SIZE * POINT_SIZE
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(size)
    except FileNotFoundError:
        return b""
    return data[: len(data) // POINT_SIZE * POINT_SIZE]


NAME_LINE = b'["n"'


def scan_point_names(metrics: Path, offset: int, names: dict[int, str], chunk: int) -> int:
    """Add the name definitions (``n`` lines) of ``metrics`` from byte ``offset`` to ``names``; the offset reached.

    Only the lines that start with ``["n"`` are decoded, ``chunk`` bytes at a time.
    """
    while data := read_whole_lines(metrics, offset, chunk):
        offset += len(data)
        if NAME_LINE in data:
            lines = [line for line in data.split(b"\n")[:-1] if line.startswith(NAME_LINE)]
            names.update(point_names(parse_columns(b"\n".join(lines) + b"\n")))
    return offset


def metrics_path(points: Path) -> Path:
    """The metrics file whose ``n`` lines name the ids of a ``<proc>.points.bin`` file."""
    return points.with_name(points.name[: -len(layout.POINTS_SUFFIX)] + layout.METRICS_SUFFIX)


def read_whole_lines(path: Path, offset: int, limit: int) -> bytes:
    """Bytes from ``offset`` up to the last newline within ``limit`` (more if one line is longer)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(limit)
            while data and b"\n" not in data:
                more = fh.read(limit)
                if not more:
                    return b""
                data += more
    except FileNotFoundError:
        return b""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def iter_metric_events(
    run_dir: Path, kinds: Sequence[str] | None = None, chunk: int = 1 << 20
) -> Iterator[tuple[str, str, Any]]:
    """``(kind, name, value)`` of every metric event of a run (of ``kinds``), files merged by time.

    Files are read ``chunk`` bytes at a time, and with ``kinds`` only lines starting with
    ``["<kind>"`` are decoded: the tables of a run are found without decoding its scalars.
    The numeric ``run.log`` points of each process (its ``*.points.bin`` file) are ``s``
    events: read when ``kinds`` is None or contains ``"s"``.
    """
    folder = Path(run_dir) / layout.EVENTS_DIR
    with_points = kinds is None or "s" in kinds
    wanted = None if kinds is None else tuple(kinds) + (("n",) if with_points else ())
    prefixes = None if wanted is None else tuple(b'["' + k.encode() + b'"' for k in wanted)
    try:
        files = sorted(n for n in os.listdir(folder) if n.endswith(layout.METRICS_SUFFIX))
    except FileNotFoundError:
        files = []
    parts: list[EventColumns] = []
    for n in files:
        path = folder / n
        points = points_path(path)
        # The points are read up to the size they had before the metrics file is read: every
        # id in them is defined by an "n" line that is in the metrics file by then.
        points_end = file_size(points) if with_points else 0
        names: dict[int, str] = {}
        lines = EventColumns()
        offset = 0
        while data := read_whole_lines(path, offset, chunk):
            offset += len(data)
            if prefixes is not None:
                if not any(p in data for p in prefixes):
                    continue
                data = b"".join(line + b"\n" for line in data.split(b"\n")[:-1] if line.startswith(prefixes))
                if not data:
                    continue
            part = parse_columns(data)
            if "n" in part.kinds:
                names.update(point_names(part))
            keep = [i for i, k in enumerate(part.kinds) if k != "n" and (kinds is None or k in kinds)]
            lines.extend(part if len(keep) == len(part) else part.take(keep))
        parts.append(lines)
        offset = 0
        numbers = EventColumns()
        while offset + POINT_SIZE <= points_end and (data := read_records(points, offset, points_end, chunk)):
            numbers.extend(decode_points(data, names))  # (points of a name without an "n" line are skipped)
            offset += len(data)
        parts.append(numbers)
    merged = merge_by_time(parts)
    yield from zip(merged.kinds, merged.names, merged.values)



def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def event_files(run_dir: Path, suffix: str) -> list[Path]:
    """The events files of a run whose names end with ``suffix``, sorted by name."""
    folder = run_dir / layout.EVENTS_DIR
    try:
        return [folder / n for n in sorted(os.listdir(folder)) if n.endswith(suffix)]
    except FileNotFoundError:
        return []
