"""The ``runlog`` command: look at runs in a store from the shell."""

from __future__ import annotations

import csv
import difflib
import importlib
import importlib.util
import io
import json
import math
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import click

from . import _store, _sysmetrics
from ._errors import RunlogError, RunNotFound, did_you_mean
from ._run import Run, _utc
from ._workspace import Experiment, Workspace

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
    return Workspace(store) if store is not None else Workspace.from_config()


def _run(store: Path | None, run_id: str) -> Run:
    try:
        return _workspace(store).get_run(run_id)
    except RunNotFound as exc:
        raise click.ClickException(str(exc)) from exc


def _console() -> Any:
    # Run content is data, never markup: no [tags], no :emoji:, no highlighting (which is also
    # quadratic in the length of a token). Only runlog's own fixed strings are styled, as Text.
    from rich.console import Console

    return Console(
        soft_wrap=True, width=200 if not sys.stdout.isatty() else None, markup=False, highlight=False, emoji=False
    )


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

    ws = _workspace(store)
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
        for run in found:
            try:
                state = run._state()
            except (RunlogError, OSError, ValueError) as exc:
                rows.append((0.0, exp.name, run, None, f"unreadable: {exc}"))
                continue
            rows.append((state.start_time or 0.0, exp.name, run, state, "run.json damaged" if run._damage else ""))
    rows.sort(key=lambda r: r[0], reverse=True)
    return rows


def _last_values(run: Run) -> dict[str, Any]:
    columns = run._reader.metric_columns()
    return {n: v for kind, n, v in zip(columns.kinds, columns.names, columns.values) if kind == "s"}


@main.command()
@store_option
@click.option("--experiment", "-e", "experiment_name", help="Only runs of this experiment.")
@click.option("--limit", default=50, show_default=True, help="At most this many runs (newest first).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def runs(store: Path | None, experiment_name: str | None, limit: int, fmt: str) -> None:
    """List runs: status, start, duration and the last value of each metric."""
    from rich.table import Table

    ws = _workspace(store)
    if experiment_name is not None:
        try:
            exps = [Experiment.from_name(ws, experiment_name)]
        except RunlogError as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        exps = list(ws.experiments.values())
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
    table = Table("run", "experiment", "status", "started", "duration", "metrics (last value)")
    cut = False
    for _, exp_name, run, state, damage in rows:
        if run is None or state is None:
            table.add_row(_text(run.id if run else "?"), _text(exp_name), _text(damage), "", "", "")
            continue
        last = {str(k): v if isinstance(v, str) else _fmt(v) for k, v in _last_values(run).items()}
        cut = cut or any(len(k) > 60 or len(v) > 60 for k, v in last.items())
        metrics = ", ".join(f"{_cut(k, 60, False)}={_cut(v, 60, False)}" for k, v in last.items())
        started = _utc(state.start_time) or ""
        status = f"{state.status} ({damage})" if damage else state.status
        table.add_row(
            _text(run.id), _text(exp_name), _text(status), started[:19].replace("T", " "), _duration(state),
            _text(metrics, 4 * MAX_VALUE),
        )  # fmt: skip
    console = _console()
    console.print(table)
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
    console.print(Text.assemble((_cut(run.id), "bold"), f" ({_cut(str(details['status']))})"))
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
@click.option("--name", "-n", "names", multiple=True, help="Only this metric (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def metrics(store: Path | None, run_id: str, names: tuple[str, ...], fmt: str) -> None:
    """Print a run's metrics."""
    run = _run(store, run_id)
    found = run.get_metrics(system=bool(names))  # system/ series when named
    if names:
        missing = [n for n in names if n not in found]
        if missing:
            hint = did_you_mean(missing[0], list(found), f" The run has: {', '.join(found) or 'no metrics'}.")
            raise click.ClickException(f"run {run.id} has no metric {missing[0]!r}.{hint}")
        found = {n: found[n] for n in names}
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, default=repr))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["name", "index", "column", "value"])
        for name, value in found.items():
            if isinstance(value, dict):
                for column, values in value.items():
                    for i, v in enumerate(values if isinstance(values, list) else [values]):
                        writer.writerow([name, i, column, v])
            else:
                for i, v in enumerate(value if isinstance(value, list) else [value]):
                    writer.writerow([name, i, "", v])
        click.echo(out.getvalue(), nl=False)
    else:
        from rich.table import Table

        table = Table("metric", "value", title=_text(f"metrics of {run.id}"))
        for name, value in found.items():
            table.add_row(_text(name), _text(value))
        _console().print(table)


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
def download(store: Path | None, run_id: str, zip_path: Path | None, output: Path, names: tuple[str, ...]) -> None:
    """Download a run's files, one by name or all (as a folder or a zip)."""
    run = _run(store, run_id)
    all_names = run.get_file_names()
    chosen = list(names) or all_names
    for name in chosen:
        if name not in all_names:
            hint = did_you_mean(name, all_names)
            raise click.ClickException(f"run {run.id} has no file {name!r}.{hint}")
    if zip_path is not None:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in chosen:
                zf.write(run._reader.file_path(name), name)
        click.echo(f"wrote {len(chosen)} file(s) of {run.id} to {zip_path}")
    else:
        for name in chosen:
            click.echo(run.download_file(name, output / name))


@main.command()
@store_option
@click.argument("run_id")
@click.option("--name", "log_name", default=None, help="Which log file (default: every driver log of the run).")
@click.option("--follow", "-f", is_flag=True, help="Print the log as it grows until the run ends (rank 0's by default).")
def logs(store: Path | None, run_id: str, log_name: str | None, follow: bool) -> None:
    """Print a run's driver log."""
    run = _run(store, run_id)
    if follow:
        from ._stream import follow as follow_log

        name = log_name if log_name is None or log_name.startswith("logs/") else f"logs/{log_name}"
        follow_log(run, name, sys.stdout)
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
        with open(run._reader.file_path(name), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                click.echo(line, nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
