"""runlog.widgets.RunDetails: a notebook view of a run that updates itself until the run ends."""

from __future__ import annotations

import builtins
import time
from typing import Any

import pytest

import runlog
from runlog.widgets import RunDetails, sparkline_svg


def _wait(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_run_details_follows_a_running_run_until_it_ends(exp: runlog.Experiment) -> None:
    """While the run runs the view picks up new metrics and log lines; it stops following once the run ends."""
    run = exp.start_logging(outputs=False)
    run.log("loss", 1.0)
    details = RunDetails(run, refresh_seconds=0.05)
    assert "Running" in details.summary.value and "1" in details.summary.value
    details.start()
    assert details.following
    run.log("loss", 0.125)
    run._writer.write_log("epoch <1> done\n")
    assert _wait(lambda: "0.125" in details.summary.value and "epoch &lt;1&gt; done" in details.log.value)
    assert "<polyline" in details.charts.value and "min 0.125" in details.charts.value
    run.complete()
    assert _wait(lambda: not details.following)
    assert "Completed" in details.summary.value


def test_run_details_of_a_finished_run_does_not_follow(exp: runlog.Experiment) -> None:
    """A finished run is shown once; start() starts no thread; the widget is a VBox with the summary."""
    run = exp.start_logging(outputs=False)
    run.log("acc", 0.9)
    run.complete()
    details = RunDetails(run)
    details.start()
    assert not details.following
    assert details.summary in details.widget.children
    assert "0.9" in details.summary.value and "no log yet" in details.log.value
    assert "application/vnd.jupyter.widget-view+json" in details._repr_mimebundle_()


def test_show_displays_the_widget(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """show() hands the widget to IPython's display and starts following a running run."""
    shown: list[Any] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    run = exp.start_logging(outputs=False)
    details = RunDetails(run, refresh_seconds=0.05)
    details.show()
    assert shown == [details.widget] and details.following
    details.stop()
    assert not details.following
    run.complete()


def test_missing_ipywidgets_names_the_extra(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ipywidgets, RunDetails raises ImportError naming pip install 'runlog[widgets]'."""
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ipywidgets":
            raise ImportError("No module named 'ipywidgets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    run = exp.start_logging(outputs=False)
    with pytest.raises(ImportError, match=r"pip install 'runlog\[widgets\]'"):
        RunDetails(run)
    run.complete()


def test_metric_names_in_charts_are_escaped(exp: runlog.Experiment) -> None:
    """A metric name with markup is shown as text in the charts."""
    run = exp.start_logging(outputs=False)
    run.log("<img src=x onerror=alert(1)>", 1.0)
    run.log("<img src=x onerror=alert(1)>", 2.0)
    details = RunDetails(run)
    assert "&lt;img src=x onerror=alert(1)&gt;" in details.charts.value
    assert "<img" not in details.charts.value
    run.complete()


def test_sparkline_scales_points_into_the_box() -> None:
    """The sparkline maps the data range onto the box and skips gaps; a flat or empty series is safe."""
    svg = sparkline_svg([0.0, 1.0, 2.0], [0.0, None, 10.0], width=104, height=24)
    assert 'points="2.0,22.0 102.0,2.0"' in svg
    assert "polyline" in sparkline_svg([0.0, 1.0], [5.0, 5.0])
    assert "polyline" not in sparkline_svg([], [])


def test_a_metric_that_reached_infinity_still_shows(exp: runlog.Experiment) -> None:
    """A diverging loss (+inf after finite values) does not break the view: its max reads Infinity, the chart skips it."""
    run = exp.start_logging(outputs=False)
    run.log("loss", 1.0)
    run.log("loss", float("inf"))
    run.log("gain", float("-inf"))
    run.log("gain", 2.0)
    details = RunDetails(run)
    assert "min 1 · max Infinity" in details.charts.value
    assert "min -Infinity · max 2" in details.charts.value
    run.complete()


def test_refresh_reads_only_through_the_incremental_cache(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refresh (each 2 s) reads new lines only: it never decodes all of the run's events again (docs/viewer.md)."""
    from runlog._store import RunReader

    run = exp.start_logging(outputs=False)
    run.log("loss", 1.0)
    run.log_list("lr", [0.1, 0.01])
    run.log_row("eval", acc=0.5)
    details = RunDetails(run)

    def whole_run(self: Any) -> Any:
        raise AssertionError("RunDetails.refresh decoded every event of the run")

    monkeypatch.setattr(RunReader, "metric_events", whole_run)
    run.log("loss", 0.25)
    run.log_row("eval", acc=0.75)
    assert details.refresh() is True
    summary = details.summary.value
    assert "0.25" in summary and "0.01" in summary and "table, 2 row(s)" in summary
    run.complete()
