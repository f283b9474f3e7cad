"""The upload cursor: how far a run has been shipped to one target.

Stored as ``<run_dir>/upload/<target>.json``, rewritten atomically (temporary
file + rename) after every request that moved data, so a crash at any moment
leaves the previous cursor or the new one. The cursor only moves *after* the
target acknowledged the data: delivery is at least once, and targets make a
re-send harmless (see ``docs/upload-core.md``).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._store import layout

__all__ = ["CURSOR_VERSION", "UPLOAD_DIR", "FileCursor", "UploadCursor"]

UPLOAD_DIR = "upload"
CURSOR_VERSION = 1


@dataclass
class FileCursor:
    """Where the upload of one events file stands.

    ``offset`` is the byte offset just past the last event acknowledged by the
    target (in a ``*.points.bin`` file a multiple of its 32-byte records); ``next_step`` the step the next step-less point of each name gets;
    ``next_row`` the index of the next row of each table. Both counters are part
    of the cursor so that a re-sent event gets exactly the step it had before.
    """

    offset: int = 0
    next_step: dict[str, int] = field(default_factory=dict)
    next_row: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "next_step": self.next_step, "next_row": self.next_row}

    @classmethod
    def from_json(cls, data: Any) -> FileCursor:
        if not isinstance(data, dict):
            return cls()
        return cls(
            int(data.get("offset", 0)),
            {str(k): int(v) for k, v in (data.get("next_step") or {}).items()},
            {str(k): int(v) for k, v in (data.get("next_row") or {}).items()},
        )

    def copy(self) -> FileCursor:
        return FileCursor(self.offset, dict(self.next_step), dict(self.next_row))


@dataclass
class UploadCursor:
    """Everything an uploader must remember across restarts for one run and one target."""

    target: str
    endpoint: str = ""
    remote: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, FileCursor] = field(default_factory=dict)
    meta: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[int]] = field(default_factory=dict)
    finished: str | None = None
    dead_letters: int = 0

    @staticmethod
    def path_for(run_dir: Path, target: str) -> Path:
        return run_dir / UPLOAD_DIR / f"{target}.json"

    @classmethod
    def load(cls, run_dir: Path, target: str, endpoint: str = "") -> UploadCursor:
        """The saved cursor, or a fresh one (also when it belongs to another endpoint)."""
        try:
            data = layout.read_json(cls.path_for(run_dir, target))
        except (OSError, ValueError):
            return cls(target, endpoint)
        if not isinstance(data, dict) or (endpoint and data.get("endpoint") not in (None, "", endpoint)):
            return cls(target, endpoint)
        try:
            return cls._from_json(data, target, endpoint)
        except (TypeError, ValueError, AttributeError):  # a field of the wrong type (edited by hand, damaged)
            return cls(target, endpoint)

    @classmethod
    def _from_json(cls, data: dict[str, Any], target: str, endpoint: str) -> UploadCursor:
        return cls(
            target=target,
            endpoint=str(data.get("endpoint") or endpoint),
            remote=dict(data.get("remote") or {}),
            metrics={str(k): FileCursor.from_json(v) for k, v in (data.get("metrics") or {}).items()},
            meta={str(k): int(v) for k, v in (data.get("meta") or {}).items()},
            files={str(k): [int(x) for x in v] for k, v in (data.get("files") or {}).items()},
            finished=data.get("finished"),
            dead_letters=int(data.get("dead_letters", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CURSOR_VERSION,
            "target": self.target,
            "endpoint": self.endpoint,
            "remote": copy.deepcopy(self.remote),
            "metrics": {k: v.to_json() for k, v in self.metrics.items()},
            "meta": dict(self.meta),
            "files": {k: list(v) for k, v in self.files.items()},
            "finished": self.finished,
            "dead_letters": self.dead_letters,
        }

    def save(self, run_dir: Path) -> None:
        layout.write_json_atomic(self.path_for(run_dir, self.target), self.to_json())


def read_remote_id(run_dir: Path, target: str | None = None) -> str | None:
    """The remote run id stored in a run's cursor (of ``target``, or of the only cursor there is)."""
    folder = run_dir / UPLOAD_DIR
    if target is None:
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
        except OSError:
            return None
        if len(names) != 1:
            return None
        target = names[0][: -len(".json")]
    try:
        data = layout.read_json(folder / f"{target}.json")
    except (OSError, ValueError):
        return None
    remote = data.get("remote") if isinstance(data, dict) else None
    run_id = remote.get("run_id") if isinstance(remote, dict) else None
    return str(run_id) if run_id else None
