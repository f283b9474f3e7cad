"""``runlog logs``: a run's driver logs, printed or followed (colours kept on a terminal, progress bars in place)."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from .._jobs.stream import follow as follow_log
from .._jobs.stream import interleave_ranks, rank_logs, rank_prefix
from .._model.run import Run
from .common import _run, store_option

__all__ = ["log_text", "logs", "progress_key"]


# Terminal escape sequences in a log: CSI (colours, cursor moves), OSC (titles, links, clipboard) and
# two-character escapes. A terminal gets the colours (SGR) only; anything else (a pipe) gets none.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_UNSAFE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
_LOG_PREFIX = re.compile(r"^(\[rank \d+\] )?(\d{4}-\d\d-\d\dT[\d:.]+Z )?(\[stderr\] )?")
_TQDM = re.compile(r"^(.*?)\s*\d{1,3}%\|")
_KERAS = re.compile(r"^\s*\d+/(\d+) \[[=>.]*\]")


def log_text(line: str, terminal: bool) -> str:
    """A log line as printed: on a terminal its colours kept (other escapes and controls dropped), else plain text."""
    if "\x1b" not in line and not terminal:
        return line
    if not terminal:
        return _ESCAPE.sub("", line)
    return _UNSAFE_CONTROL.sub("", _ESCAPE.sub(lambda m: m.group() if _SGR.fullmatch(m.group()) else "", line))


def progress_key(line: str) -> str | None:
    """What identifies a progress bar's line (tqdm's ``desc: 45%|...``, keras' ``45/100 [==>...]``), else None.

    Consecutive lines with the same key are states of one bar: the driver log keeps a redrawn bar's state
    every few seconds, and a follower shows them as one line updating in place.
    """
    text = _ESCAPE.sub("", line)
    text = text[text.rfind("\r") + 1 :] if "\r" in text.rstrip("\r") else text
    prefix = _LOG_PREFIX.match(text)
    stream = (prefix.group(1) or "") + (prefix.group(3) or "") if prefix else ""  # a bar per rank and stream
    body = text[prefix.end() :] if prefix else text
    if found := _TQDM.match(body):
        return f"{stream}tqdm:{found.group(1)}"
    if found := _KERAS.match(body):
        return f"{stream}keras:{found.group(1)}"
    return None


class _LogOutput(io.TextIOBase):
    """Where ``runlog logs --follow`` writes: plain text in a pipe; on a terminal, colours kept and a
    progress bar's successive states drawn over each other on one line."""

    def __init__(self, out: Any, terminal: bool) -> None:
        self._out, self._terminal = out, terminal
        self._buffer = ""
        self._bar: str | None = None  # the key of the bar on the current (unfinished) terminal line

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        shown = log_text(line, self._terminal)
        if not self._terminal:
            self._out.write(shown + "\n")
            return
        key = progress_key(line)
        if key is not None:
            self._out.write(("\r\x1b[K" if key == self._bar else "\n" if self._bar else "") + shown.replace("\r", ""))
            self._bar = key
            return
        self._out.write(("\n" if self._bar else "") + shown + "\n")
        self._bar = None

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        if self._buffer:
            self._line(self._buffer)
            self._buffer = ""
        if self._bar:
            self._out.write("\n")
            self._bar = None
        self.flush()


def _rank_option(value: str | None) -> int | str | None:
    if value is None or value == "all":
        return value
    if value.isdigit():
        return int(value)
    raise click.BadParameter(f"expected a rank number (0, 1, ...) or 'all'; got {value!r}", param_hint="--rank")


@click.command()
@store_option
@click.argument("run_id")
@click.option("--name", "log_name", default=None, help="Which log file (default: every driver log of the run).")
@click.option("--rank", "rank_text", default=None, metavar="RANK|all",
              help="A multi-process run's rank N (its driver log), or `all`: every rank's lines interleaved by time, "
                   "each prefixed [rank N].")  # fmt: skip
@click.option("--follow", "-f", is_flag=True, help="Print the log as it grows until the run ends (rank 0's by default).")
def logs(store: Path | None, run_id: str, log_name: str | None, rank_text: str | None, follow: bool) -> None:
    """Print a run's driver log (colours kept on a terminal, stripped in a pipe)."""
    rank = _rank_option(rank_text)
    run = _run(store, run_id)
    if rank is not None and log_name is not None:
        raise click.UsageError("pass --name (one log file) or --rank (a rank's driver log, or all), not both")
    ranks = rank_logs(run)
    if isinstance(rank, int):
        if rank not in ranks:
            have = ", ".join(map(str, ranks)) or "none (a single process: see its log without --rank)"
            raise click.ClickException(f"run {run.id} has no rank {rank}; its ranks: {have}")
        log_name = ranks[rank]
    terminal = sys.stdout.isatty() or bool(os.environ.get("FORCE_COLOR"))
    if follow:
        name = log_name if log_name is None or log_name.startswith("logs/") else f"logs/{log_name}"
        out = _LogOutput(sys.stdout, terminal)
        try:
            follow_log(run, name, out, all_ranks=rank == "all")  # type: ignore[arg-type]
        finally:
            out.close()
        return
    if rank == "all" and ranks:
        _print_interleaved(run, ranks, terminal)
        return
    names = [n for n in run.get_file_names() if n.startswith("logs/") and not n.endswith(".json")]
    # The driver logs; runlog's own system log (logs/runlog_system.txt) only when asked by --name.
    names = [n for n in names if n.startswith("logs/driver_log")] or names
    if log_name is not None:
        names = [n for n in run.get_file_names() if n.startswith("logs/")]
        if log_name not in names and f"logs/{log_name}" in names:
            log_name = f"logs/{log_name}"
        if log_name not in names:
            raise click.ClickException(f"run {run.id} has no log {log_name!r}; it has: {', '.join(names) or 'none'}")
        names = [log_name]
    for name in names:
        if len(names) > 1:
            click.echo(f"==> {name} <==")
        with open(run._reader.file_path(name), encoding="utf-8", errors="replace", newline="\n") as fh:
            for line in fh:
                click.echo(log_text(line, terminal), nl=False, color=terminal)


def _print_interleaved(run: Run, ranks: dict[int, str], terminal: bool) -> None:
    """Every rank's driver log as one, interleaved by the time each line starts with, each line prefixed ``[rank N]``."""
    lines: dict[int, list[str]] = {}
    for rank, name in ranks.items():
        try:
            with open(run._reader.file_path(name), encoding="utf-8", errors="replace", newline="\n") as fh:
                lines[rank] = [line.rstrip("\n") for line in fh]
        except (OSError, ValueError):  # a rank that wrote no log (yet)
            continue
    for rank, line in interleave_ranks(lines):
        click.echo(log_text(rank_prefix(rank) + line, terminal), color=terminal)
