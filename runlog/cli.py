"""The ``runlog`` command: look at runs in a store from the shell."""

from __future__ import annotations

import csv
import difflib
import importlib
import importlib.util
import io
import json
import math
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import click

from . import _store
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
    from rich.console import Console

    return Console(soft_wrap=True, width=200 if not sys.stdout.isatty() else None)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, dict)):
        text = json.dumps(value, default=repr)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


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
    table = Table("experiment", "runs", title=f"experiments in {ws.store}")
    for name, exp in ws.experiments.items():
        table.add_row(name, str(sum(1 for _ in exp.get_runs(include_children=True))))
    _console().print(table)


@main.command()
@store_option
@click.option("--experiment", "-e", "experiment_name", help="Only runs of this experiment.")
@click.option("--limit", default=50, show_default=True, help="At most this many runs (newest first).")
def runs(store: Path | None, experiment_name: str | None, limit: int) -> None:
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
    rows = []
    for exp in exps:
        for run in exp.get_runs(include_children=True):
            state = run._state()
            if run._damage:
                state.status = f"{state.status} (run.json damaged)"
            rows.append((state.start_time or 0.0, exp.name, run, state))
    rows.sort(key=lambda r: r[0], reverse=True)
    table = Table("run", "experiment", "status", "started", "duration", "metrics (last value)")
    for _, exp_name, run, state in rows[:limit]:
        columns = run._reader.metric_columns()
        last = {n: v for kind, n, v in zip(columns.kinds, columns.names, columns.values) if kind == "s"}
        metrics = ", ".join(f"{k}={_fmt(v)}" for k, v in last.items())
        started = _utc(state.start_time) or ""
        table.add_row(run.id, exp_name, state.status, started[:19].replace("T", " "), _duration(state), metrics)
    _console().print(table)


@main.command()
@store_option
@click.argument("run_id")
def show(store: Path | None, run_id: str) -> None:
    """Show a run: status, times, tags, properties, metrics and files."""
    run = _run(store, run_id)
    details = run.get_details()
    console = _console()
    console.print(f"[bold]{run.id}[/bold] ({details['status']})", highlight=False)
    for key in ("displayName", "experiment", "parentRunId", "startTimeUtc", "endTimeUtc", "submittedBy", "host"):
        if details.get(key):
            console.print(f"  {key}: {details[key]}", highlight=False, markup=False)
    for key in ("tags", "properties"):
        if details[key]:
            console.print(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in details[key].items()), markup=False)
    if "error" in details:
        error = details["error"]["error"]
        console.print(f"  error: {error.get('message') if isinstance(error, dict) else error}", markup=False)
    if run._damage:
        console.print(f"  damaged: {run._damage}", markup=False, highlight=False)
    console.print("  path: " + str(run.path), markup=False, highlight=False)
    metrics = run.get_metrics()
    if metrics:
        console.print("metrics:")
        for name, value in metrics.items():
            console.print(f"  {name}: {_fmt(value)}", markup=False)
    files = run.get_file_names()
    if files:
        console.print("files:")
        for name in files:
            console.print(f"  {name}", markup=False)


@main.command()
@store_option
@click.argument("run_id")
@click.option("--name", "-n", "names", multiple=True, help="Only this metric (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def metrics(store: Path | None, run_id: str, names: tuple[str, ...], fmt: str) -> None:
    """Print a run's metrics."""
    run = _run(store, run_id)
    found = run.get_metrics()
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

        table = Table("metric", "value", title=f"metrics of {run.id}")
        for name, value in found.items():
            table.add_row(name, _fmt(value))
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
