"""Captured output: bytes from a process's stdout/stderr pipe -> timestamped driver-log lines.

Each line of the driver log is ``<UTC time> <text>`` for stdout and
``<UTC time> [stderr] <text>`` for stderr, e.g.::

    2026-11-27T14:30:00.123Z alpha is 0.50, and mse is 3424.32
    2026-11-27T14:30:01.004Z [stderr] Traceback (most recent call last):

Progress bars that redraw one line with ``\\r`` (tqdm, keras, pip) are collapsed:
a redrawn line is written when it ends (its final state), and while it keeps
being redrawn, its current state at most once every ``progress_interval`` seconds
(5 by default). A bar redrawn 10,000 times in a minute costs about 12 lines.
"""

from __future__ import annotations

import codecs
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .driverlog import format_utc

__all__ = ["LineAssembler", "echoed_to_console", "format_time", "last_traceback"]

PROGRESS_INTERVAL = 5.0
MAX_LINE = 64 * 1024
_TAIL_LINES = 400


# ``2026-11-27T14:30:00.123Z`` (UTC, milliseconds): the one timestamp of runlog's text lines.
format_time = format_utc


class LineAssembler:
    """Turns the bytes of one stream into whole, timestamped lines handed to ``sink``."""

    def __init__(
        self,
        sink: Callable[[str], None],
        *,
        stderr: bool = False,
        progress_interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sink = sink
        self._marker = " [stderr] " if stderr else " "
        self._interval = progress_interval
        self._clock = clock
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="backslashreplace")
        self._line = ""  # the text written since the last line start
        self._redrawn: str | None = None  # the last complete state of a line being redrawn with \r
        self._pending_cr = False
        self._last_emit_state: str | None = None
        self._last_progress = 0.0
        self.tail: deque[str] = deque(maxlen=_TAIL_LINES)  # recent lines (for the last traceback)

    def feed(self, data: bytes) -> None:
        """Add bytes read from the pipe; whole lines go to the sink in one call."""
        text = self._decoder.decode(data)
        if not text:
            return
        now = self._clock()
        out: list[str] = []
        if self._pending_cr:
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
                self._end_line(out, now)
            else:
                self._redraw(out, now)
        start = 0
        n = len(text)
        while start < n:
            nl = text.find("\n", start)
            cr = text.find("\r", start)
            if nl < 0 and cr < 0:
                self._line += text[start:]
                if len(self._line) > MAX_LINE:
                    self._end_line(out, now)
                break
            if cr >= 0 and (nl < 0 or cr < nl):
                self._line += text[start:cr]
                if cr + 1 < n:
                    if text[cr + 1] == "\n":
                        self._end_line(out, now)
                        start = cr + 2
                        continue
                    self._redraw(out, now)
                else:
                    self._pending_cr = True
                start = cr + 1
                continue
            self._line += text[start:nl]
            self._end_line(out, now)
            start = nl + 1
        self._write(out, now)

    def _redraw(self, out: list[str], now: float) -> None:
        if self._line:
            if self._redrawn is None:  # the first redraw of this line starts its clock
                self._last_progress = now
            self._redrawn = self._line
        self._line = ""
        if self._redrawn is not None and now - self._last_progress >= self._interval:
            if self._redrawn != self._last_emit_state:
                out.append(self._redrawn)
                self._last_emit_state = self._redrawn
            self._last_progress = now

    def _end_line(self, out: list[str], now: float) -> None:
        text = self._line if self._line or self._redrawn is None else self._redrawn
        if not (self._redrawn is not None and text == self._last_emit_state):
            out.append(text)
        self._line = ""
        self._redrawn = None
        self._last_emit_state = None

    def tick(self) -> None:
        """Write the current state of a line still being redrawn, if it is due."""
        now = self._clock()
        if self._redrawn is not None and now - self._last_progress >= self._interval:
            out: list[str] = []
            if self._redrawn != self._last_emit_state:
                out.append(self._redrawn)
                self._last_emit_state = self._redrawn
            self._last_progress = now
            self._write(out, now)

    def close(self) -> None:
        """End of the stream: write what is left of the last line."""
        self._line += self._decoder.decode(b"", final=True)
        out: list[str] = []
        if self._line or self._redrawn is not None:
            self._end_line(out, self._clock())
        self._pending_cr = False
        self._write(out, self._clock())

    def _write(self, lines: list[str], now: float) -> None:
        if not lines:
            return
        self.tail.extend(lines)
        stamp = format_time(now) + self._marker
        self._sink("".join(stamp + line + "\n" for line in lines))


def last_traceback(lines: list[str] | deque[str], max_lines: int = 60) -> str | None:
    """The last Python traceback among ``lines`` (stderr), with its exception line; None if none."""
    items = list(lines)
    start = None
    for i in range(len(items) - 1, -1, -1):
        if items[i].startswith("Traceback (most recent call last):"):
            start = i
            break
    if start is None:
        return None
    end = start + 1
    while end < len(items):
        line = items[end]
        end += 1
        if line and not line.startswith((" ", "\t")):  # the exception line ends the traceback
            break
    block = items[start:end]
    if len(block) > max_lines:
        block = [*block[:3], "  ...", *block[-(max_lines - 4) :]]
    return "\n".join(block)


def _is_console(stream: Any) -> bool:
    if stream is sys.stdout or stream is sys.stderr or stream is sys.__stdout__ or stream is sys.__stderr__:
        return True
    try:
        return stream.fileno() in (1, 2)  # type: ignore[no-any-return]
    except Exception:
        return False


def echoed_to_console(record: logging.LogRecord) -> bool:
    """True when a StreamHandler on stdout/stderr in the record's logger chain prints it too."""
    logger: logging.Logger | None
    if record.name == "root":
        logger = logging.root
    else:
        found = logging.root.manager.loggerDict.get(record.name)
        logger = found if isinstance(found, logging.Logger) else logging.root
    while logger is not None:
        for h in logger.handlers:
            if (
                type(h) is logging.StreamHandler or (isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler))
            ) and record.levelno >= h.level and _is_console(getattr(h, "stream", None)):
                return True
        if not logger.propagate:
            break
        logger = logger.parent
    return False
