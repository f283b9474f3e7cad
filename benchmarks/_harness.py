"""Side-by-side measurement helpers: repeat, take the median, report ratios to a baseline.

Not tests: nothing here passes or fails on a time. Each case is measured in the same process
run as its baseline, alternating, so machine noise hits both.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    name: str
    per_call_us: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.per_call_us)

    @property
    def low(self) -> float:
        return min(self.per_call_us)

    @property
    def high(self) -> float:
        return max(self.per_call_us)


def measure(cases: dict[str, Callable[[int], None]], n: int, repeats: int = 5, cpu: bool = False) -> dict[str, Result]:
    """Run every case ``repeats`` times (alternating), each call of a case doing ``n`` operations.

    Returns microseconds per operation (wall clock, or CPU time of the process with ``cpu``).
    """
    clock = time.process_time if cpu else time.perf_counter
    results = {name: Result(name, []) for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            gc.collect()
            start = clock()
            case(n)
            results[name].per_call_us.append((clock() - start) / n * 1e6)
    return results


def table(results: dict[str, Result], baseline: str, unit: str = "µs/op") -> str:
    base = results[baseline].median
    lines = [
        f"| case | median {unit} | min | max | ratio to `{baseline}` |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results.values():
        lines.append(f"| {r.name} | {r.median:.3f} | {r.low:.3f} | {r.high:.3f} | {r.median / base:.2f} |")
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.platform()}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}"
    )
