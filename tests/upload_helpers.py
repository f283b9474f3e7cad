"""An in-memory upload target and a fast uploader over it, for tests of several layers."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import runlog
from runlog._errors import UploadRejected
from runlog._upload import MetaEvent, MetricEvent, RunInfo, Uploader, UploadOptions


class MemoryTarget:
    """Records what it is sent; can fail on demand."""

    name = "memory-test"
    endpoint = "memory://test"

    def __init__(self, max_points: int = 1000, max_meta: int = 100) -> None:
        self.max_points = max_points
        self.max_meta = max_meta
        self.metric_calls: list[list[MetricEvent]] = []
        self.meta_calls: list[list[MetaEvent]] = []
        self.files: dict[str, bytes] = {}
        self.finished: list[tuple[str, float | None]] = []
        self.opened = 0
        self.state: dict[str, Any] = {}
        self.fail_metrics: list[BaseException] = []
        self.reject_names: set[str] = set()
        self.block = threading.Event()
        self.block.set()

    def open(self, run: RunInfo, state: dict[str, Any]) -> None:
        self.state = state
        if not state.get("run_id"):
            self.opened += 1
            state["run_id"] = f"remote-{run.run_id}"

    def send_metrics(self, events: Sequence[MetricEvent]) -> None:
        self.block.wait()
        if self.fail_metrics:
            raise self.fail_metrics.pop(0)
        if any(e.name in self.reject_names for e in events):
            raise UploadRejected("bad name", status=400, code="INVALID_PARAMETER_VALUE", hint="rename it")
        self.metric_calls.append(list(events))

    def send_meta(self, events: Sequence[MetaEvent]) -> None:
        self.meta_calls.append(list(events))

    def send_file(self, name: str, path: Path) -> None:
        self.files[name] = path.read_bytes()

    def flush(self, final: bool) -> None:
        pass

    def finish(self, status: str, end_time: float | None) -> None:
        self.finished.append((status, end_time))

    def close(self) -> None:
        pass

    def points(self) -> list[tuple[str, Any, int, float]]:
        return [(e.name, e.value, e.seq, e.time) for call in self.metric_calls for e in call]


def point(nid: int, value: float | int | bool | None, step: int | None, ts: float) -> bytes:
    """One points-file record of store format 3, packed here independently of the writer
    (docs/store-format.md: the type word's high three bytes hold the record's check)."""
    st = NO_STEP if step is None else step
    if isinstance(value, float):
        fmt, kind, raw = "<IIdqd", 0, value
    else:
        fmt, kind, raw = "<IIqqd", 3 if value is None else 2 if isinstance(value, bool) else 1, int(value or 0)
    check = (zlib.crc32(struct.pack(fmt, nid, kind, raw, st, ts)) | 0x80000000) & 0xFFFFFF00
    return struct.pack(fmt, nid, kind | check, raw, st, ts)


NO_STEP = -(1 << 63)

FAST = {"retry_initial": 0.001, "retry_max": 0.01, "interval": 0.01, "log_interval": 0.0, "finish_timeout": 5.0}


def uploader(run: runlog.Run, target: MemoryTarget, **kwargs: Any) -> Uploader:
    return Uploader(run.path, target, UploadOptions(**{**FAST, **kwargs}))


def offline_run(exp: runlog.Experiment) -> runlog.Run:
    """A run logged with no tracking URI (no uploader)."""
    return exp.start_logging(outputs=False)
