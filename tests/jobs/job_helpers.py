"""What the script-run tests share: write a script, read a driver log, wait for a condition."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import runlog

# Two ranks' driver logs (see RANK0/RANK1 in test_stream.py) interleaved by time, as the viewer and CLI show them.
INTERLEAVED = [
    "[rank 0] 2026-01-01T00:00:01.000Z start 0",
    "[rank 1] 2026-01-01T00:00:02.000Z start 1",
    "[rank 1] no time here",  # goes with its rank's last time
    "[rank 0] 2026-01-01T00:00:03.000Z step 0",
    "[rank 1] 2026-01-01T00:00:04.000Z step 1",
]


def write(path: Path, code: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return path


def log_text(run: runlog.Run, name: str = "logs/driver_log.txt") -> str:
    return (run.path / "files" / name).read_text()


def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
