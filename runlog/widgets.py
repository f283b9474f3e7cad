"""Jupyter widgets: ``RunDetails(run).show()`` (needs ``pip install 'runlog[widgets]'``).

As Azure ML's ``azureml.widgets.RunDetails``: a view of a run in the notebook
that updates itself while the run is running (status, latest metric values, a
small chart per scalar metric, the end of the driver log) and stops updating
when the run ends. It reads through the viewer's incremental cache
(:class:`runlog.ui.query.StoreQuery`, no web framework needed), so following a
long run re-reads only what was appended.
"""

from __future__ import annotations

import logging
import threading
from html import escape
from typing import TYPE_CHECKING, Any

from ._model.html import run_html
from .ui.query import StoreQuery

if TYPE_CHECKING:
    from ._model.run import Run

__all__ = ["RunDetails", "sparkline_svg"]

_log = logging.getLogger("runlog.widgets")

TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
MAX_CHARTS = 8


def _ipywidgets() -> Any:
    try:
        import ipywidgets  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError("RunDetails needs ipywidgets: pip install 'runlog[widgets]'") from exc
    return ipywidgets


def sparkline_svg(xs: list[float], ys: list[float | None], width: int = 240, height: int = 60) -> str:
    """A small SVG line chart of ``ys`` against ``xs`` (``None`` values are gaps)."""
    points = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if not points:
        return f'<svg width="{width}" height="{height}"></svg>'
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    sx = (width - 4) / (x1 - x0) if x1 > x0 else 0.0
    sy = (height - 4) / (y1 - y0) if y1 > y0 else 0.0
    coords = " ".join(
        f"{2 + (x - x0) * sx:.1f},{height - 2 - (y - y0) * sy if sy else height / 2:.1f}" for x, y in points
    )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<polyline fill="none" stroke="#2f6fde" stroke-width="1.5" points="{coords}"/></svg>'
    )


def _latest(detail: dict[str, Any]) -> dict[str, Any]:
    """The latest value of each metric of a run page (``StoreQuery.run``), as ``run_html`` shows them."""
    images = {i["name"]: i["file"] for i in detail.get("images", [])}  # sorted by time: the last one wins
    latest: dict[str, Any] = {}
    for m in detail["metrics_list"]:
        if m.get("kind") in ("s", "l"):
            latest[m["name"]] = m.get("last")
        elif m.get("kind") == "table":
            latest[m["name"]] = f"table, {m.get('count', 0)} row(s)"
        elif m.get("kind") == "image" and m["name"] in images:
            latest[m["name"]] = images[m["name"]]
    return latest


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else escape(str(value))


class RunDetails:
    """A self-updating notebook view of a run.

    ``refresh_seconds``: how often a running run is re-read; ``log_bytes``: how
    much of the end of the driver log is shown.
    """

    def __init__(self, run_instance: Run, refresh_seconds: float = 2.0, log_bytes: int = 8192) -> None:
        widgets = _ipywidgets()
        self.run = run_instance
        self.refresh_seconds = refresh_seconds
        self.log_bytes = log_bytes
        self._query = StoreQuery(run_instance.experiment.workspace.store)
        self.summary = widgets.HTML()
        self.charts = widgets.HTML()
        self.log = widgets.HTML()
        self.widget = widgets.VBox([self.summary, self.charts, widgets.HTML("<b>Driver log</b>"), self.log])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()

    def _charts_html(self, detail: dict[str, Any]) -> str:
        cells = []
        # min/max are None without a number, and the strings "Infinity"/"-Infinity" for infinite values.
        chartable = [m for m in detail["metrics_list"] if m.get("kind") in ("s", "l") and m.get("min") is not None]
        for metric in chartable[:MAX_CHARTS]:
            series = self._query.series(self.run.id, metric["name"], points=200)
            cells.append(
                '<div style="display:inline-block;margin:4px 12px 4px 0;vertical-align:top">'
                f'<div style="font-size:12px"><b>{escape(metric["name"])}</b> '
                f"last {escape(str(metric['last']))} · min {_number(metric['min'])} · max {_number(metric['max'])}</div>"
                f"{sparkline_svg(series['x'], series['y'])}</div>"
            )
        return "".join(cells)

    def _log_tail(self, detail: dict[str, Any]) -> str:
        names = detail["logs"]
        if not names:
            return ""
        name = "logs/driver_log.txt" if "logs/driver_log.txt" in names else names[0]
        return str(self._query.log(self.run.id, name, max_bytes=self.log_bytes)["text"])

    def refresh(self) -> bool:
        """Re-read the run into the widget; True while the run is still running."""
        detail = self._query.run(self.run.id)
        # Latest values from the incremental cache: re-decoding every event of a long run at
        # each refresh (every 2 s) would keep the notebook's kernel busy.
        self.summary.value = run_html(self.run, _latest(detail))
        self.charts.value = self._charts_html(detail)
        tail = self._log_tail(detail)
        style = "max-height:300px;overflow:auto;background:#0f1420;color:#e5e7eb;padding:6px;font-size:12px"
        self.log.value = f'<pre style="{style}">{escape(tail)}</pre>' if tail else "<i>no log yet</i>"
        return detail["status"] not in TERMINAL

    def _follow(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                if not self.refresh():
                    return
            except Exception as exc:  # a display problem never breaks the notebook's run
                _log.debug("RunDetails refresh of %s failed: %s", self.run.id, exc)

    def show(self) -> None:
        """Display the view; while the run is running it updates itself in the background."""
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]
        self.start()

    def start(self) -> None:
        """Start following the run (``show()`` does this); a no-op for a finished run."""
        if self.run.get_status() in TERMINAL or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name=f"runlog-details-{self.run.id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop updating (the view keeps what it shows)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def following(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
