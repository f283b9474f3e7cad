"""``runlog metrics``: a run's metrics, or the history of named ones (a table, JSON or CSV)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from .._errors import did_you_mean
from .._run import _utc
from .common import _console, _run, _text, store_option

__all__ = ["metrics"]


@click.command()
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

