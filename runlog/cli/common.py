"""What the ``runlog`` commands share: the --store option, finding a store and a run (a unique id
prefix or ``latest``), and showing run content as data (printable, cut, coloured statuses)."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import click

from .. import _store
from .._errors import RunNotFound
from .._model.run import Run
from .._model.workspace import Workspace
from .._store import layout
from .._store.search import find_runs

store_option = click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="RUNLOG_STORE",
    help="The store folder (default: $RUNLOG_STORE, a config file's store, or ./runlog-store).",
)


def _workspace(store: Path | None) -> Workspace:
    """The store to write into (created when missing): ``runlog submit``'s."""
    return Workspace(store) if store is not None else Workspace.from_config()


class _ExistingWorkspace(Workspace):
    """A store that must exist already: the commands that only read never create one."""

    def _ensure(self) -> None:
        if not ((self.store / layout.STORE_RECORD).is_file() or (self.store / layout.EXPERIMENTS_DIR).is_dir()):
            what = "is not a folder" if self.store.exists() and not self.store.is_dir() else "holds no runlog store"
            if not self.store.exists():
                what = "does not exist"
            raise click.ClickException(
                f"{self.store} {what} (no {layout.STORE_RECORD} or {layout.EXPERIMENTS_DIR}/ in it): pass --store "
                f"(or set RUNLOG_STORE to) the folder your runs were logged into"
            )
        if (self.store / layout.STORE_RECORD).is_file():  # its format is checked; nothing is created
            super()._ensure()


def _existing_workspace(store: Path | None) -> Workspace:
    """The store to read: an error saying so when ``store`` (or the configured one) holds no store."""
    return _ExistingWorkspace(store) if store is not None else _ExistingWorkspace.from_config()


# How many candidates an ambiguous run id prefix lists.
MAX_CANDIDATES = 10


def resolve_run_id(ws: Workspace, ref: str) -> str:
    """The run id ``ref`` stands for: an exact id, ``latest`` (the newest run) or a unique prefix of one.

    The one resolver of every command that takes a RUN. An ambiguous prefix is an error listing the
    candidates; an unknown one is :class:`RunNotFound` with suggestions.
    """
    if layout.find_run_dir(ws.store, ref) is not None:  # an exact id: no listing of the store's runs
        return ref
    if ref == "latest":
        newest, _ = find_runs(ws.store, max_results=1)
        if not newest:
            raise click.ClickException(f"the store {ws.store} has no runs yet, so no latest run")
        return newest[0].run_id
    ids = sorted(set(ws.all_run_ids()))
    matches = [i for i in ids if ref and i.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        shown = "\n  ".join(_cut(m) for m in matches[:MAX_CANDIDATES])
        more = f"\n  ... and {len(matches) - MAX_CANDIDATES} more" if len(matches) > MAX_CANDIDATES else ""
        raise click.ClickException(
            f"run id prefix {_cut(ref)!r} is ambiguous: {len(matches)} runs start with it:\n  {shown}{more}\n"
            f"type more of the id"
        )
    raise ws._run_not_found(ref)


def _run(store: Path | None, run_id: str) -> Run:
    ws = _existing_workspace(store)
    try:
        return ws.get_run(resolve_run_id(ws, run_id))
    except RunNotFound as exc:
        raise click.ClickException(str(exc)) from exc


def short_ids(ids: list[str], every: list[str], minimum: int = 8) -> dict[str, str]:
    """Each of ``ids`` cut to its shortest prefix (at least ``minimum`` characters) that is unique among ``every``."""
    ordered = sorted(set(every) | set(ids))
    out: dict[str, str] = {}
    for run_id in ids:
        i = ordered.index(run_id)
        common = 0
        for other in (ordered[i - 1] if i else None, ordered[i + 1] if i + 1 < len(ordered) else None):
            if other is not None:
                common = max(common, next((k for k, (a, b) in enumerate(zip(run_id, other)) if a != b), min(len(run_id), len(other))))
        length = max(minimum, common + 1)
        # A prefix that is itself another run's whole id would resolve to that run: keep the whole id then.
        out[run_id] = run_id if length >= len(run_id) or run_id[:length] in ordered else run_id[:length]
    return out


# Status colours on a terminal (rich styles; nothing is coloured when the output is not a TTY).
STATUS_STYLES = {
    "Completed": "green", "Failed": "bold red", "Canceled": "magenta", "CancelRequested": "magenta",
    "Running": "cyan", "Finalizing": "cyan", "NotStarted": "dim", "Queued": "dim", "Preparing": "dim",
    "Starting": "dim", "Provisioning": "dim",
}  # fmt: skip


def _status(status: Any, extra: str = "") -> Any:
    """A run status as a rich ``Text``, coloured by what it means (data: escaped, never markup)."""
    from rich.text import Text

    return Text(_cut(str(status)) + extra, style=STATUS_STYLES.get(str(status), ""))


def _console() -> Any:
    # Run content is data, never markup: no [tags], no :emoji:, no highlighting (which is also
    # quadratic in the length of a token). Only runlog's own fixed strings are styled, as Text.
    from rich.console import Console

    columns = os.environ.get("COLUMNS", "")  # a pipe: $COLUMNS, else wide enough not to cut values
    width = None if sys.stdout.isatty() else int(columns) if columns.isdigit() else 200
    return Console(soft_wrap=True, width=width, markup=False, highlight=False, emoji=False)


# Longest value shown in a table cell or a `show` line; `--format json` prints everything whole.
MAX_VALUE = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """``text`` with control characters (escape sequences, newlines) shown as escapes, not obeyed."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _cut(text: str, limit: int = MAX_VALUE, hint: bool = True) -> str:
    """``text`` made printable and cut to ``limit`` characters, with an ellipsis and (``hint``) how to see it whole."""
    if len(text) > limit:
        more = f" ({len(text) - limit} more characters; --format json prints it whole)" if hint else ""
        return _printable(text[:limit]) + "…" + more
    return _printable(text)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, dict)):
        text = json.dumps(value, default=repr)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


def _text(value: Any, limit: int = MAX_VALUE) -> Any:
    """A rich ``Text`` of a value: shown as data (no markup), printable, cut when long."""
    from rich.text import Text

    return Text(_cut(value if isinstance(value, str) else _fmt(value), limit))


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=repr))


def _duration(state: _store.RunState) -> str:
    if state.start_time is None:
        return ""
    end = state.end_time or time.time()
    seconds = int(end - state.start_time)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


