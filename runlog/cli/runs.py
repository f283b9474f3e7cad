"""``runlog experiments``, ``runlog runs`` and ``runlog show``: what the store holds, and one run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .._capture import sysmetrics as _sysmetrics
from .._errors import RunlogError
from .._model.run import Run
from .._model.status import _utc
from .._model.workspace import Experiment, Workspace
from .._store.search import find_runs
from .common import (
    MAX_VALUE,
    _console,
    _cut,
    _duration,
    _echo_json,
    _existing_workspace,
    _fmt,
    _run,
    _status,
    _text,
    short_ids,
    store_option,
)

__all__ = ["experiments", "runs", "show"]


@click.command()
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


@click.command()
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


@click.command()
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

