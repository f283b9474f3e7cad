"""A measured prototype (issue 19), not runlog's code: points records copied into a MAP_SHARED mmap.

    .venv/bin/python benchmarks/bench_points_mmap.py [--records 30000] [--repeat 9]

The idea: write ``<proc>.points.bin`` through a shared memory map of a preallocated file (grown
1 MiB at a time with ``ftruncate`` and a new mapping) instead of one ``os.write`` per call, so that a
tagged record's line is its only system call. This script swaps the writer's points writes for such
a copy (``RunWriter._write_data`` for tagged records; the module's ``os.write`` of 32-byte records
for ``run.log``), nothing else, and measures side by side in one run (CPU time of this process,
median of interleaved rounds; ratios paired within a round):

- a tagged record (two metrics) through ``RunHandler``, points by ``os.write`` or by the map, vs
  the same record through ``logging.FileHandler`` (issue 19's target: <= 0.9);
- ``run.log`` of one scalar, points by ``os.write`` or by the map.

The readers were not changed for it (a preallocated file has zero records after its end), so the
files it writes are not a run's: they go to a temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import mmap
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import paired_table, rotated_rounds, tagged_records

CHUNK = 1 << 20


class MappedPoints:
    """Appends to a file through a shared mapping (grown by CHUNK; no truncation at close: a prototype)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.end = 0
        self.size = 0
        self.map: mmap.mmap | None = None
        self._grow(0)

    def _grow(self, need: int) -> None:
        size = ((self.end + need) // CHUNK + 1) * CHUNK
        os.ftruncate(self.fd, size)
        if self.map is not None:
            self.map.close()
        self.map = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.size = size

    def write(self, data: bytes) -> int:
        end = self.end
        new = end + len(data)
        if new > self.size:
            self._grow(len(data))
        self.map[end:new] = data  # type: ignore[index]
        self.end = new
        return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    n, repeat = args.records, args.repeat
    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-mmap-"))
    os.environ["RUNLOG_STORE"] = str(tmp / "store")

    import runlog
    import runlog._store.writer as writer_module
    from runlog._store.writer import RunWriter
    from runlog.stdlib import RunFormatter

    run = runlog.Experiment(runlog.Workspace(), "bench").start_logging(outputs=False)
    mapped = MappedPoints(tmp / "prototype.points.bin")
    real_write_data, real_os_write = RunWriter._write_data, writer_module._os_write

    def write_data_mapped(self: RunWriter, data: bytes) -> None:
        mapped.write(data)

    def os_write_mapped(fd: int, data: bytes) -> int:
        return mapped.write(data) if len(data) == 32 else real_os_write(fd, data)

    counter = iter(range(10**9))

    def file_handler() -> logging.Handler:
        h = logging.FileHandler(tmp / f"file-{next(counter)}.log")
        h.setFormatter(RunFormatter())
        return h

    def tagged(make: Callable[[], logging.Handler], mapped_points: bool) -> Callable[[], float]:
        def once() -> float:
            RunWriter._write_data = write_data_mapped if mapped_points else real_write_data  # type: ignore[method-assign]
            elapsed = tagged_records(make(), f"bench.mmap.{next(counter)}", n)
            RunWriter._write_data = real_write_data  # type: ignore[method-assign]
            return elapsed

        return once

    def run_log(mapped_points: bool) -> Callable[[], float]:
        def once() -> float:
            writer_module._os_write = os_write_mapped if mapped_points else real_os_write
            log = run.log
            t0 = time.process_time()
            for i in range(n):
                log("loss", 0.5, step=i)
            elapsed = time.process_time() - t0
            writer_module._os_write = real_os_write
            return elapsed

        return once

    cases: dict[str, Callable[[], float]] = {
        "FileHandler tagged": tagged(file_handler, False),
        "RunHandler tagged, points by os.write": tagged(runlog.RunHandler, False),
        "RunHandler tagged, points by the map": tagged(runlog.RunHandler, True),
        "run.log, points by os.write": run_log(False),
        "run.log, points by the map": run_log(True),
    }
    samples = rotated_rounds(cases, repeat, n)
    run.complete()

    print(f"### Points through a shared map: a prototype ({n:,} records x {repeat} rounds; Python {sys.version.split()[0]})\n")
    rows: list[tuple[str, Any]] = [
        ("FileHandler tagged", "FileHandler tagged"),
        ("RunHandler tagged, points by os.write", "FileHandler tagged"),
        ("RunHandler tagged, points by the map", "FileHandler tagged"),
        ("run.log, points by os.write", "run.log, points by os.write"),
        ("run.log, points by the map", "run.log, points by os.write"),
    ]
    print(paired_table(samples, rows, 2))


if __name__ == "__main__":
    main()
