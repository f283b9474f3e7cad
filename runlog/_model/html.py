"""Notebook HTML for runs and experiments (``Run._repr_html_``, ``Experiment._repr_html_``).

Plain strings, no web framework: every value that comes from a run (ids,
names, tags, metric names and values) goes through :func:`html.escape`.
The link to the viewer points at ``$RUNLOG_UI_URL`` (default
``http://127.0.0.1:5050``, where ``runlog ui`` listens by default).
"""

from __future__ import annotations

import math
import os
import time
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from .run import Run
    from .workspace import Experiment

__all__ = ["UI_URL_ENV", "experiment_html", "metric_summary", "run_html", "viewer_url"]

UI_URL_ENV = "RUNLOG_UI_URL"
DEFAULT_UI_URL = "http://127.0.0.1:5050"
MAX_METRICS = 20
MAX_RUNS = 20

_STYLE = "border-collapse:collapse;text-align:left"
_CELL = "padding:2px 10px;border-bottom:1px solid #ddd;text-align:left"


def viewer_url(run_id: str | None = None) -> str:
    """The viewer's address, or that of a run's page in it."""
    base = os.environ.get(UI_URL_ENV, DEFAULT_UI_URL).rstrip("/")
    return f"{base}/#/run/{quote(run_id, safe='')}" if run_id else f"{base}/"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def metric_summary(events: list[list[Any]]) -> dict[str, Any]:
    """The latest value of each scalar/list metric (tables: their row count; images: the file)."""
    latest: dict[str, Any] = {}
    rows: dict[str, int] = {}
    for event in events:
        kind, name, value = event[0], event[1], event[2]
        if kind in ("s", "i"):
            latest[name] = value
        elif kind == "l" and isinstance(value, list) and value:
            latest[name] = value[-1]
        elif kind == "r":
            rows[name] = rows.get(name, 0) + 1
            latest[name] = f"table, {rows[name]} row(s)"
        elif kind == "t" and isinstance(value, dict):
            rows[name] = rows.get(name, 0) + max((len(v) for v in value.values() if isinstance(v, list)), default=0)
            latest[name] = f"table, {rows[name]} row(s)"
    return latest


def _row(*cells: str, header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f'<{tag} style="{_CELL}">{c}</{tag}>' for c in cells) + "</tr>"


def _duration(start: float | None, end: float | None) -> str:
    if start is None:
        return ""
    seconds = int((end if end is not None else time.time()) - start)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def run_html(run: Run, latest: dict[str, Any] | None = None) -> str:
    """A run as a small HTML table: id, status, link to its viewer page, latest metric values.

    ``latest``: the latest value of each metric when the caller has them already
    (``RunDetails`` keeps them up to date incrementally); by default they are read from the store.
    """
    state = run._reader.state()
    link = f'<a href="{escape(viewer_url(run.id))}" target="_blank" rel="noopener">Link to runlog viewer</a>'
    head = _row("Experiment", "Id", "Type", "Status", "Duration", "Details Page", header=True)
    body = _row(
        escape(run.experiment.name),
        escape(run.id),
        escape(run.type),
        escape(state.status),
        escape(_duration(state.start_time, state.end_time)),
        link,
    )
    parts = [f'<div class="runlog-run"><table style="{_STYLE}">{head}{body}</table>']
    if state.display_name:
        parts.append(f"<p>Name: {escape(state.display_name)}</p>")
    if state.tags:
        tags = ", ".join(f"{escape(k)}={escape(v)}" if v else escape(k) for k, v in state.tags.items())
        parts.append(f"<p>Tags: {tags}</p>")
    if latest is None:
        latest = metric_summary(run._reader.metric_events())
    if latest:
        rows = "".join(_row(escape(name), escape(_fmt(value))) for name, value in list(latest.items())[:MAX_METRICS])
        more = f"<p>... and {len(latest) - MAX_METRICS} more metric(s)</p>" if len(latest) > MAX_METRICS else ""
        parts.append(f'<table style="{_STYLE}">{_row("Metric", "Latest value", header=True)}{rows}</table>{more}')
    if state.error is not None:
        message = state.error.get("message") if isinstance(state.error, dict) else state.error
        parts.append(f'<pre style="color:#991b1b">{escape(str(message))}</pre>')
    parts.append("</div>")
    return "".join(parts)


def experiment_html(experiment: Experiment) -> str:
    """An experiment as HTML: name, link to the viewer, its latest runs with status."""
    runs = list(experiment.get_runs(include_children=True))
    link = f'<a href="{escape(viewer_url())}" target="_blank" rel="noopener">Link to runlog viewer</a>'
    head = _row("Name", "Workspace", "Runs", "Report Page", header=True)
    body = _row(escape(experiment.name), escape(experiment.workspace.name), str(len(runs)), link)
    parts = [f'<div class="runlog-experiment"><table style="{_STYLE}">{head}{body}</table>']
    if runs:
        rows = []
        for run in runs[:MAX_RUNS]:
            state = run._reader.state()
            run_link = f'<a href="{escape(viewer_url(run.id))}" target="_blank" rel="noopener">{escape(run.id)}</a>'
            rows.append(_row(run_link, escape(state.display_name or ""), escape(state.status)))
        more = f"<p>... and {len(runs) - MAX_RUNS} more run(s)</p>" if len(runs) > MAX_RUNS else ""
        parts.append(f'<table style="{_STYLE}">{_row("Run", "Name", "Status", header=True)}{"".join(rows)}</table>{more}')
    parts.append("</div>")
    return "".join(parts)
