"""What a run keeps in memory while its store cannot be written (a full disk, a removed folder).

Training never dies for the store's sake unless asked (``RUNLOG_STRICT=1`` or
``start_logging(strict=True)``): a ``run.log`` (``log_list``, ``log_row``, ``log_table``) whose
write fails is kept here, in order, with the time it was logged; later calls queue behind it, and
the queue is written as soon as the store takes writes again (tried at most every
``RETRY_SECONDS``). Beyond ``RUNLOG_PENDING_MAX`` events (default 100,000) values are dropped
and counted per metric name. The first failure is a WARNING, so is the recovery, and
``run.flush()`` / ``run.complete()`` report exactly what was dropped (see ``docs/reliability.md``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .._errors import StoreError

__all__ = ["ENV_PENDING_MAX", "ENV_STRICT", "PendingWrites", "strict_from_env"]

ENV_STRICT = "RUNLOG_STRICT"
ENV_PENDING_MAX = "RUNLOG_PENDING_MAX"
DEFAULT_PENDING_MAX = 100_000
RETRY_SECONDS = 0.5

_log = logging.getLogger("runlog.run")


def strict_from_env() -> bool:
    return os.environ.get(ENV_STRICT, "").strip().lower() in ("1", "true", "yes", "on")


def _pending_max() -> int:
    try:
        return max(0, int(os.environ.get(ENV_PENDING_MAX, DEFAULT_PENDING_MAX)))
    except ValueError:
        return DEFAULT_PENDING_MAX


# One kept write: the writer method, its arguments, the metric name (for counting) and its time.
_Write = tuple[Callable[..., None], tuple[Any, ...], str, float]


class PendingWrites:
    """The writes of one run that wait for the store to take them again, bounded."""

    def __init__(self, run_id: str, limit: int | None = None) -> None:
        self.run_id = run_id
        self.limit = _pending_max() if limit is None else limit
        self._queue: deque[_Write] = deque()
        self._lock = threading.Lock()
        self._next_try = 0.0
        self.kept_total = 0
        self.written_late = 0
        self.dropped: Counter[str] = Counter()
        self.reported_dropped = 0
        self.failing = False
        self.last_error = ""

    def __len__(self) -> int:
        return len(self._queue)

    def keep(self, write: Callable[..., None], args: tuple[Any, ...], name: str, at: float, error: BaseException | None) -> None:
        """Queue one write (or count it as dropped when the queue is full); warn on the first failure."""
        with self._lock:
            if error is not None:
                self.last_error = str(error)
                if not self.failing:
                    self.failing = True
                    self._next_try = time.monotonic() + RETRY_SECONDS
                    _log.warning(
                        "run %s: cannot write to the store (%s). Training goes on: up to %d values are kept in memory "
                        "and written when the store takes writes again (set %s=1 to raise instead)",
                        self.run_id, error, self.limit, ENV_STRICT,
                    )
            if len(self._queue) < self.limit:
                self._queue.append((write, args, name, at))
                self.kept_total += 1
            else:
                self.dropped[name] += 1

    def drain(self, force: bool = False) -> bool:
        """Write what is queued, in order; True when nothing is left. Tried at most every RETRY_SECONDS unless ``force``."""
        if not self._queue:
            return True
        now = time.monotonic()
        if not force and now < self._next_try:
            return False
        if not self._lock.acquire(blocking=force):
            return False
        try:
            self._next_try = now + RETRY_SECONDS
            written = 0
            while self._queue:
                write, args, _name, at = self._queue[0]
                try:
                    write(*args, at=at)
                except StoreError as exc:
                    self.last_error = str(exc)
                    self.written_late += written
                    return False
                except Exception as exc:  # a value the writer refuses (checked only once written): not kept
                    self._queue.popleft()
                    self.dropped[_name] += 1
                    _log.warning("run %s: a kept value of %r could not be written: %s", self.run_id, _name, exc)
                    continue
                self._queue.popleft()
                written += 1
            self.written_late += written
            if self.failing:
                self.failing = False
                dropped = sum(self.dropped.values())
                _log.warning(
                    "run %s: the store takes writes again; %d kept value(s) were written%s",
                    self.run_id, self.written_late, self._dropped_text() if dropped else ", none was lost",
                )
                self.reported_dropped = dropped
            return True
        finally:
            self._lock.release()

    def _dropped_text(self) -> str:
        dropped = sum(self.dropped.values())
        names = ", ".join(f"{n} ({c})" for n, c in self.dropped.most_common(10))
        more = ", ..." if len(self.dropped) > 10 else ""
        return f", {dropped} value(s) were lost (the memory queue was full): {names}{more}"

    def report(self) -> str | None:
        """What is lost or still waiting (for flush/complete), or None when everything was written."""
        dropped = sum(self.dropped.values())
        if not self._queue and not dropped:
            return None
        waiting = f"{len(self._queue)} value(s) are still waiting in memory ({self.last_error})" if self._queue else ""
        lost = self._dropped_text().lstrip(", ") if dropped else ""
        return f"run {self.run_id}: " + "; ".join(p for p in (waiting, lost) if p)
