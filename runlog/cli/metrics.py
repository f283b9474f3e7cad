"""``runlog metrics``: a run's metrics, or the history of named ones (a table, JSON or CSV)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from .._errors import did_you_mean
from .._model.metrics import MetricPoint, columns_by_rank, history, rank_columns, shape_metrics
from .._model.status import _utc
from .._store import EventColumns
from .common import _console, _run, _text, store_option

__all__ = ["metrics"]


class _RankType(click.ParamType):  # type: ignore[type-arg]
    """``--rank``: a rank number or ``all``."""

    name = "RANK|all"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int):
            return value
        if value == "all":
            return "all"
        if isinstance(value, str) and value.isdigit():
            return int(value)
        self.fail(f"expected a rank number (0, 1, ...) or 'all'; got {value!r}", param, ctx)


RANK = _RankType()


@click.command()
@store_option
@click.argument("run_id")
@click.option("--name", "-n", "names", multiple=True, help="Only this metric, with its whole history (repeatable).")
@click.option("--rank", "rank", type=RANK, default=None,
              help="A multi-process run's rank N, or `all` (each rank apart). Default: a name several ranks logged is rank 0's.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def metrics(store: Path | None, run_id: str, names: tuple[str, ...], rank: int | str | None, fmt: str) -> None:
    """Print a run's metrics: each one's value, or with --name its history (step, time, value).

    CSV has one line per value: name, index, step, time (UTC), column (of a row/table metric), value
    (with --rank all, a first column: rank). A multi-process run's metric that several ranks logged is
    rank 0's unless --rank says otherwise (docs/script-runs.md).
    """
    run = _run(store, run_id)
    try:
        by_rank: dict[Any, EventColumns] = (
            columns_by_rank(run._reader) if rank == "all" else {rank: rank_columns(run._reader, rank)}
        )
    except ValueError as exc:  # no such rank: the message names the ranks the run has
        raise click.ClickException(f"run {run.id}: {exc}") from exc
    views: list[tuple[Any, dict[str, Any], dict[str, list[MetricPoint]]]] = []
    for r, columns in by_rank.items():
        found = shape_metrics(columns, system=bool(names))  # system/ series when named
        if names:
            missing = [n for n in names if n not in found]
            if missing and rank == "all":
                found = {n: found[n] for n in names if n in found}  # a rank that did not log it has no entry
            elif missing:
                hint = did_you_mean(missing[0], list(found), f" The run has: {', '.join(found) or 'no metrics'}.")
                raise click.ClickException(f"run {run.id} has no metric {missing[0]!r}.{hint}")
            else:
                found = {n: found[n] for n in names}
        histories = {name: history(columns, name) for name in found if not isinstance(found[name], dict)}
        if found or not names:
            views.append((r, found, histories))
    if names and not views:
        raise click.ClickException(f"no rank of run {run.id} logged {', '.join(map(repr, names))}")
    apart = rank == "all"
    if fmt == "json":
        shown = {str(r): _json_view(found, histories, bool(names)) for r, found, histories in views}
        click.echo(json.dumps(shown if apart else shown[str(views[0][0])], indent=2, default=repr))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*(["rank"] if apart else []), "name", "index", "step", "time", "column", "value"])
        for r, found, histories in views:
            first = [r] if apart else []
            for name, value in found.items():
                if name in histories:
                    for i, point in enumerate(histories[name]):
                        writer.writerow([*first, name, i, "" if point.step is None else point.step, _utc(point.time), "", point.value])
                else:
                    for column, values in value.items():
                        for i, v in enumerate(values if isinstance(values, list) else [values]):
                            writer.writerow([*first, name, i, "", "", column, v])
        click.echo(out.getvalue(), nl=False)
    else:
        for r, found, histories in views:
            _print_tables(run.id + (f" (rank {r})" if apart else ""), found, histories, bool(names))


def _json_view(found: dict[str, Any], histories: dict[str, list[MetricPoint]], named: bool) -> Any:
    if not named:
        return found
    # The history of each named series; a row/table metric as its columns.
    return {
        name: [{"index": i, "step": p.step, "time": _utc(p.time), "value": p.value} for i, p in enumerate(histories[name])]
        if name in histories else value
        for name, value in found.items()
    }  # fmt: skip


def _print_tables(title: str, found: dict[str, Any], histories: dict[str, list[MetricPoint]], named: bool) -> None:
    from rich.table import Table

    console = _console()
    if not named:
        table = Table("metric", "value", title=_text(f"metrics of {title}"))
        for name, value in found.items():
            table.add_row(_text(name), _text(value))
        console.print(table)
        return
    for name, value in found.items():
        if name in histories:
            table = Table("step", "time (UTC)", "value", title=_text(f"{name} of {title}"))
            for i, point in enumerate(histories[name]):
                step = str(i if point.step is None else point.step)
                table.add_row(step, (_utc(point.time) or "")[:23].replace("T", " "), _text(point.value))
        else:
            columns = list(value)
            table = Table(*[_text(c) for c in columns], title=_text(f"{name} of {title}"))
            cells = [v if isinstance(v, list) else [v] for v in value.values()]
            for row in zip(*cells):
                table.add_row(*[_text(v) for v in row])
        console.print(table)
