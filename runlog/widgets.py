"""Jupyter widgets: ``RunDetails(run).show()`` (needs ``pip install 'runlog[widgets]'``).

As Azure ML's ``azureml.widgets.RunDetails``: a view of a run in the notebook
that updates itself while the run is running (status, latest metric values,
the end of the driver log) and stops updating when the run ends.
"""

from __future__ import annotations

import logging
import threading
from html import escape
from typing import TYPE_CHECKING, Any

from ._html import run_html

if TYPE_CHECKING:
    from ._run import Run

__all__ = ["RunDetails"]

_log = logging.getLogger("runlog.widgets")

TERMINAL = frozenset({"Completed", "Failed", "Canceled"})


def _ipywidgets() -> Any:
    try:
        import ipywidgets  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError("RunDetails needs ipywidgets: pip install 'runlog[widgets]'") from exc
    return ipywidgets


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
        self.summary = widgets.HTML()
        self.log = widgets.HTML()
        self.widget = widgets.VBox([self.summary, widgets.HTML("<b>Driver log</b>"), self.log])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()

    def _log_tail(self) -> str:
        reader = self.run._reader
        names = list(reader.iter_log_names())
        if not names:
            return ""
        name = "logs/driver_log.txt" if "logs/driver_log.txt" in names else names[0]
        path = reader.file_path(name)
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - self.log_bytes))
            data = fh.read()
        if size > self.log_bytes:
            data = data[data.find(b"\n") + 1 :]
        return data.decode("utf-8", "replace")

    def refresh(self) -> bool:
        """Re-read the run into the widget; True while the run is still running."""
        status = self.run.get_status()
        self.summary.value = run_html(self.run)
        tail = self._log_tail()
        style = "max-height:300px;overflow:auto;background:#0f1420;color:#e5e7eb;padding:6px;font-size:12px"
        self.log.value = f'<pre style="{style}">{escape(tail)}</pre>' if tail else "<i>no log yet</i>"
        return status not in TERMINAL

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
