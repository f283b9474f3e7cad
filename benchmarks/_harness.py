"""Side-by-side measurement helpers: repeat, take the median, report ratios to a baseline.

Not tests: nothing here passes or fails on a time. Each case is measured in the same process
run as its baseline, alternating, so machine noise hits both.
"""

from __future__ import annotations

import gc
import logging
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


def rotated_rounds(cases: dict[str, Callable[[], float]], repeat: int, n: int) -> dict[str, list[float]]:
    """Microseconds per record of each case (a call returns the seconds of ``n`` records), ``repeat`` rounds,
    each round starting with another case (a rotation: no case always runs after the same one)."""
    samples: dict[str, list[float]] = {label: [] for label in cases}
    labels = list(cases)
    for round_no in range(repeat):
        shift = round_no % len(labels)
        for label in labels[shift:] + labels[:shift]:
            samples[label].append(cases[label]() / n * 1e6)
    return samples


def tagged_records(handler: logging.Handler, name: str, n: int) -> float:
    """CPU seconds of ``n`` tagged records (two metrics and a step) through ``handler`` as the only handler of
    logger ``name``; the handler is closed and removed after."""
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    info = log.info
    t0 = time.process_time()
    for i in range(n):
        info("epoch %d done", i, extra={"metrics": {"loss": 0.5, "acc": 0.25}, "step": i})
    elapsed = time.process_time() - t0
    handler.close()
    log.removeHandler(handler)
    return elapsed


def paired_table(samples: dict[str, list[float]], rows: list[tuple[str, str]], digits: int = 2) -> str:
    """A Markdown table of ``(case, baseline)`` rows: the case's median and min, and the median over rounds of
    the ratio within a round (both measured in the same round)."""
    lines = ["| case | CPU µs/record (median) | min | baseline | ratio (paired) |", "|---|---:|---:|---|---:|"]
    for label, baseline in rows:
        v = samples[label]
        ratio = statistics.median(x / y for x, y in zip(v, samples[baseline]))
        lines.append(f"| {label} | {statistics.median(v):.2f} | {min(v):.2f} | {baseline} | {ratio:.{digits}f} |")
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.platform()}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}"
    )
