"""A tagged record's values packed in C or in Python (issue 19), side by side in one run.

    .venv/bin/python benchmarks/bench_packer.py [--records 30000] [--repeat 9]

runlog packs a tagged record's values (the dict look-ups, the class checks, the 32-byte records and
their CRC checks) with the C function of ``runlog._store._packer`` when it was built at install
(``hatch_build.py``, with a C compiler), else with a Python function generated per group of names
(``runlog._store.records.python_group_packer``). This script swaps one for the other as the run
writer's packer (``RunWriter._packer``, which ``RunHandler.handle`` calls), nothing else, and measures
side by side (CPU time of this process, median of interleaved rounds; ratios paired within a round):

- a tagged record (two metrics) through ``logging.FileHandler`` (``RunFormatter``): the baseline;
- the same record through ``RunHandler``, values packed in Python;
- the same record through ``RunHandler``, values packed in C (issue 19's target: <= 0.9).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import paired_table, rotated_rounds, tagged_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    n, repeat = args.records, args.repeat
    tmp = Path(tempfile.mkdtemp(prefix="runlog-bench-packer-"))
    os.environ["RUNLOG_STORE"] = str(tmp / "store")

    import runlog
    from runlog._store import records
    from runlog._store.layout import T_FLOAT
    from runlog.stdlib import RunFormatter

    if records._native is None:
        raise SystemExit("runlog's C packer is not built (hatch_build.py needs a C compiler and Python's headers)")
    run = runlog.Experiment(runlog.Workspace(), "bench").start_logging(outputs=False)
    writer = run._writer
    warm = logging.getLogger("bench.packer.warm")
    warm.handlers[:] = [runlog.RunHandler()]
    warm.propagate = False
    warm.setLevel(logging.INFO)
    for i in range(3):  # defines the names
        warm.info("warm", extra={"metrics": {"loss": 0.5, "acc": 0.25}, "step": i})
    names = ("loss", "acc")
    group = (names, tuple(writer._ids[k] for k in names), (T_FLOAT, T_FLOAT))
    c_packer, python_packer = records.group_packer(*group), records.python_group_packer(*group)
    for values, st, now in [({"loss": 0.5, "acc": 0.25}, 3, 1.5), ({"loss": -1e300, "acc": float("inf")}, -7, time.time())]:
        assert c_packer(values, st, now) == python_packer(values, st, now), "the two packers give other bytes"

    counter = iter(range(10**9))

    def file_handler() -> logging.Handler:
        h = logging.FileHandler(tmp / f"file-{next(counter)}.log")
        h.setFormatter(RunFormatter())
        return h

    def tagged(make: Callable[[], logging.Handler], packer: Any) -> Callable[[], float]:
        def once() -> float:
            writer._packer = packer
            elapsed = tagged_records(make(), f"bench.packer.{next(counter)}", n)
            writer._packer = c_packer
            return elapsed

        return once

    cases: dict[str, Callable[[], float]] = {
        "FileHandler tagged": tagged(file_handler, c_packer),
        "RunHandler tagged, packed in Python": tagged(runlog.RunHandler, python_packer),
        "RunHandler tagged, packed in C": tagged(runlog.RunHandler, c_packer),
    }
    samples = rotated_rounds(cases, repeat, n)
    history = run.get_metric_history("loss")
    run.complete()
    assert len(history) == 3 + 2 * n * repeat, "values were lost"

    print(f"### Tagged values packed in C or in Python ({n:,} records x {repeat} rounds; Python {sys.version.split()[0]})\n")
    rows = [
        ("FileHandler tagged", "FileHandler tagged"),
        ("RunHandler tagged, packed in Python", "FileHandler tagged"),
        ("RunHandler tagged, packed in C", "FileHandler tagged"),
        ("RunHandler tagged, packed in C", "RunHandler tagged, packed in Python"),
    ]
    print(paired_table(samples, rows, 3))


if __name__ == "__main__":
    main()
