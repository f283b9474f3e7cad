"""The ``runlog`` command: look at runs in a store from the shell."""

from __future__ import annotations

import csv
import difflib
import importlib
import importlib.util
import io
import json
import math
import os
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import click

from . import _store
from ._capture import sysmetrics as _sysmetrics
from ._errors import RunlogError, RunNotFound, did_you_mean
from ._model.run import Run
from ._model.status import _utc
from ._model.workspace import Experiment, Workspace
from ._store import layout

# Commands that live in their own modules (and may need optional extras): name -> "module:attr".
LAZY_COMMANDS = {
    "submit": "runlog._submit_cli:submit",
    "sync": "runlog._upload.cli:sync",
    "ui": "runlog.ui.cli:ui",
}


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class _Group(click.Group):
    """A group that loads some commands lazily and suggests close names for typos."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n, target in LAZY_COMMANDS.items() if _module_exists(target.split(":")[0]))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            try:
                command = getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError:
                return None
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint}")
        return super().resolve_command(ctx, args)


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
    ids = sorted(set(ws.all_run_ids()))
    if ref in ids:
        return ref
    if ref == "latest":
        from ._store.search import find_runs

        newest, _ = find_runs(ws.store, max_results=1)
        if not newest:
            raise click.ClickException(f"the store {ws.store} has no runs yet, so no latest run")
        return newest[0].run_id
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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runlog")
def main() -> None:
    """Look at ML training runs in a local runlog store."""


@main.command()
@store_option
def experiments(store: Path | None) -> None:
    """List the experiments of the store."""
    from rich.table import Table

    ws = _existing_workspace(store)
    table = Table("experiment", "runs", title=_text(f"experiments in {ws.store}"))
    for name, exp in ws.experiments.items():
        try:
            count = str(sum(1 for _ in exp.get_runs(include_children=True)))
        except (RunlogError, OSError, ValueError) as exc:  # one unreadable experiment never hides the others
            count = f"unreadable: {exc}"
        table.add_row(_text(name), _text(count))
    _console().print(table)


def _run_rows(exps: list[Experiment]) -> list[tuple[float, str, Run | None, Any, str]]:
    """(start time, experiment, run, state, damage) of every run; a run that cannot be read is a row saying why."""
    rows: list[tuple[float, str, Run | None, Any, str]] = []
    for exp in exps:
        try:
            found = list(exp.get_runs(include_children=True))
        except (RunlogError, OSError, ValueError) as exc:
            rows.append((0.0, exp.name, None, None, f"experiment unreadable: {exc}"))
            continue
        rows.extend(_listed(exp.name, run) for run in found)
    rows.sort(key=lambda r: r[0], reverse=True)
    return rows


class _IndexProgress:
    """A progress bar on stderr while many runs are read into the run index (a large store's first search)."""

    SHOWN_FROM = 500  # runs to read before a bar is worth showing

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total < self.SHOWN_FROM or not sys.stderr.isatty():
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("indexing runs", total=total)
        self._bar.update(self._task, completed=done)

    def __enter__(self) -> _IndexProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _searched_rows(
    ws: Workspace, exps: list[Experiment], filter_string: str | None, order_by: list[str], limit: int
) -> list[tuple[float, str, Run | None, Any, str]]:
    """The rows of the runs a search finds (runlog._store.search.find_runs: MLflow's syntax), in its order."""
    from ._store.search import find_runs

    with _IndexProgress() as progress:
        try:
            found, _ = find_runs(
                ws.store, filter_string, order_by, max_results=limit, experiments=[e.name for e in exps], progress=progress
            )
        except ValueError as exc:  # InvalidSearch: the message shows where and gives an example
            raise click.BadParameter(str(exc), param_hint="--filter" if filter_string else "--order-by") from exc
    rows: list[tuple[float, str, Run | None, Any, str]] = []
    by_name = {e.name: e for e in exps}
    rows.extend(_listed(row.experiment, Run(by_name[row.experiment], row.run_id)) for row in found)
    return rows


def _listed(exp_name: str, run: Run) -> tuple[float, str, Run | None, Any, str]:
    """(start time, experiment, run, state, damage) of one run; a run that cannot be read says why."""
    try:
        state = run._state()
    except (RunlogError, OSError, ValueError) as exc:
        return (0.0, exp_name, run, None, f"unreadable: {exc}")
    return (state.start_time or 0.0, exp_name, run, state, "run.json damaged" if run._damage else "")


def _last_values(run: Run) -> dict[str, Any]:
    columns = run._reader.metric_columns()
    return {n: v for kind, n, v in zip(columns.kinds, columns.names, columns.values) if kind == "s"}


@main.command()
@store_option
@click.option("--experiment", "-e", "experiment_name", help="Only runs of this experiment.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many runs (newest first).")
@click.option("--filter", "filter_string", default=None, metavar="FILTER",
              help="MLflow's search syntax: \"metrics.val_acc > 0.9 and params.lr = '0.01'\", \"attributes.status = 'Failed'\", "
                   "\"tags.best = 'yes'\"; plain words search ids, names and experiments.")  # fmt: skip
@click.option("--order-by", "order_by", multiple=True, metavar="ORDER",
              help="e.g. \"metrics.val_acc DESC\" or \"attributes.start_time\" (repeatable; default: newest first).")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def runs(
    store: Path | None, experiment_name: str | None, limit: int, filter_string: str | None, order_by: tuple[str, ...], fmt: str
) -> None:
    """List runs: status, start, duration and the last value of each metric.

    --filter and --order-by take MLflow's search syntax (the viewer's search box and its JSON API
    take the same). Run ids are shortened to a prefix that is unique in the store when the
    terminal is narrow; every command takes such a prefix (or `latest`) as RUN.
    """
    from rich import box
    from rich.table import Table

    ws = _existing_workspace(store)
    if experiment_name is not None:
        try:
            exps = [Experiment.from_name(ws, experiment_name)]
        except RunlogError as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        exps = list(ws.experiments.values())
    if filter_string or order_by:
        rows = _searched_rows(ws, exps, filter_string, list(order_by), limit)
    else:
        rows = _run_rows(exps)[:limit]
    if fmt == "json":
        out = []
        for _, exp_name, run, state, damage in rows:
            out.append(
                {
                    "run": run.id if run else None,
                    "experiment": exp_name,
                    "status": state.status if state else None,
                    "started": _utc(state.start_time) if state else None,
                    "damaged": damage or None,
                    "metrics": _last_values(run) if run and state else {},
                }
            )
        _echo_json(out)
        return
    console = _console()
    ids = [run.id for _, _, run, _, _ in rows if run is not None]
    narrow = console.width < 120  # a terminal of 80 columns: ids cut to a unique prefix, no redundant column
    shown = short_ids(ids, ws.all_run_ids()) if narrow else {i: i for i in ids}
    # The experiment column only when the ids do not already start with the experiment's name.
    with_experiment = not narrow or any(run is None or not run.id.startswith(f"{e}_") for _, e, run, _, _ in rows)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", no_wrap=True)
    if with_experiment:
        table.add_column("experiment", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("took", no_wrap=True, justify="right")
    table.add_column("metrics (last value)", overflow="fold", ratio=1)
    cut = False
    for _, exp_name, run, state, damage in rows:
        experiment = [_text(exp_name)] if with_experiment else []
        if run is None or state is None:
            table.add_row(_text(shown.get(run.id, run.id) if run else "?"), *experiment, _status(damage), "", "", "")
            continue
        last = {str(k): v if isinstance(v, str) else _fmt(v) for k, v in _last_values(run).items()}
        cut = cut or any(len(k) > 60 or len(v) > 60 for k, v in last.items())
        metrics = ", ".join(f"{_cut(k, 60, False)}={_cut(v, 60, False)}" for k, v in last.items())
        started = _utc(state.start_time) or ""
        table.add_row(
            _text(shown[run.id]), *experiment, _status(state.status, f" ({damage})" if damage else ""),
            started[5:16].replace("T", " "), _duration(state), _text(metrics, 4 * MAX_VALUE),
        )  # fmt: skip
    console = _console()
    console.print(table)
    if any(shown[r] != r for r in shown):
        console.print("(ids cut to a unique prefix, which any command takes)")
    if cut:
        console.print("(values cut to fit with …: `runlog runs --format json` prints them whole)")


@main.command()
@store_option
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show(store: Path | None, run_id: str, fmt: str) -> None:
    """Show a run: status, times, tags, properties, metrics and files."""
    run = _run(store, run_id)
    details = run.get_details()
    everything = run.get_metrics(system=True)
    metrics = {n: v for n, v in everything.items() if not _sysmetrics.is_system_metric(n)}
    system = _sysmetrics.summary(everything)
    files = run.get_file_names()
    if fmt == "json":
        _echo_json(
            {**details, "damaged": run._damage, "path": str(run.path), "metrics": metrics, "system": system, "files": files}
        )
        return
    from rich.text import Text

    console = _console()
    console.print(Text.assemble((_cut(run.id), "bold"), " (", _status(details["status"]), ")"))
    for key in ("displayName", "experiment", "parentRunId", "startTimeUtc", "endTimeUtc", "submittedBy", "host"):
        if details.get(key):
            console.print(_text(f"  {key}: {details[key]}"))
    for key in ("tags", "properties"):
        if details[key]:
            console.print(_text(f"  {key}: " + ", ".join(f"{_cut(str(k))}={_cut(str(v))}" for k, v in details[key].items()), 100 * MAX_VALUE))
    if "error" in details:
        error = details["error"]["error"]
        console.print(_text(f"  error: {error.get('message') if isinstance(error, dict) else error}", 10 * MAX_VALUE))
    if run._damage:
        console.print(_text(f"  damaged: {run._damage}", 10 * MAX_VALUE))
    console.print(_text("  path: " + str(run.path), 10 * MAX_VALUE))
    if metrics:
        console.print("metrics:")
        for name, value in metrics.items():
            console.print(Text(f"  {_cut(name)}: {_cut(_fmt(value))}"))
    if system:
        console.print(_text(f"system: {system}", 10 * MAX_VALUE))
    if files:
        console.print("files:")
        for name in files:
            console.print(Text(f"  {_cut(name, 10 * MAX_VALUE)}"))


@main.command()
@store_option
@click.argument("run_id")
@click.option("--name", "-n", "names", multiple=True, help="Only this metric, with its whole history (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def metrics(store: Path | None, run_id: str, names: tuple[str, ...], fmt: str) -> None:
    """Print a run's metrics: each one's value, or with --name its history (step, time, value).

    CSV has one line per value: name, index, step, time (UTC), column (of a row/table metric), value.
    """
    run = _run(store, run_id)
    found = run.get_metrics(system=bool(names))  # system/ series when named
    if names:
        missing = [n for n in names if n not in found]
        if missing:
            hint = did_you_mean(missing[0], list(found), f" The run has: {', '.join(found) or 'no metrics'}.")
            raise click.ClickException(f"run {run.id} has no metric {missing[0]!r}.{hint}")
        found = {n: found[n] for n in names}
    histories = {name: run.get_metric_history(name) for name in found if not isinstance(found[name], dict)}
    if fmt == "json":
        if names:  # the history of each named series; a row/table metric as its columns
            click.echo(json.dumps({
                name: [{"index": i, "step": p.step, "time": _utc(p.time), "value": p.value} for i, p in enumerate(histories[name])]
                if name in histories else value
                for name, value in found.items()
            }, indent=2, default=repr))  # fmt: skip
        else:
            click.echo(json.dumps(found, indent=2, default=repr))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["name", "index", "step", "time", "column", "value"])
        for name, value in found.items():
            if name in histories:
                for i, point in enumerate(histories[name]):
                    writer.writerow([name, i, "" if point.step is None else point.step, _utc(point.time), "", point.value])
            else:
                for column, values in value.items():
                    for i, v in enumerate(values if isinstance(values, list) else [values]):
                        writer.writerow([name, i, "", "", column, v])
        click.echo(out.getvalue(), nl=False)
    else:
        from rich.table import Table

        console = _console()
        if not names:
            table = Table("metric", "value", title=_text(f"metrics of {run.id}"))
            for name, value in found.items():
                table.add_row(_text(name), _text(value))
            console.print(table)
            return
        for name, value in found.items():
            if name in histories:
                table = Table("step", "time (UTC)", "value", title=_text(f"{name} of {run.id}"))
                for i, point in enumerate(histories[name]):
                    step = str(i if point.step is None else point.step)
                    table.add_row(step, (_utc(point.time) or "")[:23].replace("T", " "), _text(point.value))
            else:
                columns = list(value)
                table = Table(*[_text(c) for c in columns], title=_text(f"{name} of {run.id}"))
                cells = [v if isinstance(v, list) else [v] for v in value.values()]
                for row in zip(*cells):
                    table.add_row(*[_text(v) for v in row])
            console.print(table)


@main.command()
@store_option
@click.argument("run_id")
def files(store: Path | None, run_id: str) -> None:
    """List a run's files (outputs, images, logs)."""
    run = _run(store, run_id)
    for name in run.get_file_names():
        click.echo(name)


@main.command()
@store_option
@click.argument("run_id")
@click.option("--zip", "zip_path", type=click.Path(dir_okay=False, path_type=Path), help="Write all files into this zip.")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("."), help="Folder to copy files into.")
@click.option("--name", "names", multiple=True, help="Only this file (repeatable).")
@click.option("--force", is_flag=True, help="Overwrite files that exist already.")
def download(store: Path | None, run_id: str, zip_path: Path | None, output: Path, names: tuple[str, ...], force: bool) -> None:
    """Download a run's files, one by name or all (as a folder or a zip); never overwrites without --force."""
    run = _run(store, run_id)
    all_names = run.get_file_names()
    chosen = list(names) or all_names
    for name in chosen:
        if name not in all_names:
            hint = did_you_mean(name, all_names)
            raise click.ClickException(f"run {run.id} has no file {name!r}.{hint}")
    targets = [zip_path] if zip_path is not None else [output / name for name in chosen]
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if existing and not force:
        listed = ", ".join(_cut(str(t), 100, False) for t in existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise click.ClickException(f"{listed} exist(s) already: pass --force to overwrite, or --output another folder")
    if zip_path is not None:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in chosen:
                zf.write(run._reader.file_path(name), name)
        click.echo(f"wrote {len(chosen)} file(s) of {run.id} to {zip_path}")
    else:
        for name in chosen:
            click.echo(run.download_file(name, output / name))


# Terminal escape sequences in a log: CSI (colours, cursor moves), OSC (titles, links, clipboard) and
# two-character escapes. A terminal gets the colours (SGR) only; anything else (a pipe) gets none.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_UNSAFE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
_LOG_PREFIX = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z )?(\[stderr\] )?")
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
    stream = prefix.group(2) or "" if prefix else ""
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


@main.command()
@store_option
@click.argument("run_id")
@click.option("--name", "log_name", default=None, help="Which log file (default: every driver log of the run).")
@click.option("--follow", "-f", is_flag=True, help="Print the log as it grows until the run ends (rank 0's by default).")
def logs(store: Path | None, run_id: str, log_name: str | None, follow: bool) -> None:
    """Print a run's driver log (colours kept on a terminal, stripped in a pipe)."""
    run = _run(store, run_id)
    terminal = sys.stdout.isatty() or bool(os.environ.get("FORCE_COLOR"))
    if follow:
        from ._jobs.stream import follow as follow_log

        name = log_name if log_name is None or log_name.startswith("logs/") else f"logs/{log_name}"
        out = _LogOutput(sys.stdout, terminal)
        try:
            follow_log(run, name, out)  # type: ignore[arg-type]
        finally:
            out.close()
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


if __name__ == "__main__":  # pragma: no cover
    main()
