"""Notebook HTML of runs and experiments (runlog._model.html): content, the viewer link, escaping."""

from __future__ import annotations

import html.parser
import subprocess
import sys
from pathlib import Path

import pytest

import runlog
from runlog._model.html import experiment_html, run_html, viewer_url


class _Collector(html.parser.HTMLParser):
    """Collects start tags and text, to check that run data never becomes markup."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links.extend(v or "" for k, v in attrs if k == "href")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(markup: str) -> _Collector:
    parser = _Collector()
    parser.feed(markup)
    parser.close()
    return parser


def test_run_html_shows_id_status_link_and_latest_metrics(exp: runlog.Experiment) -> None:
    """A run's HTML has its id, experiment, status, a link to its viewer page and each metric's latest value."""
    run = exp.start_logging(outputs=False, display_name="first")
    run.log("loss", 0.5)
    run.log("loss", 0.25)
    run.log_list("curve", [1, 2, 3])
    run.log_row("roc", fpr=0.1, tpr=0.2)
    page = _parse(run._repr_html_())
    text = " ".join(page.text)
    for expected in (run.id, "test-exp", "Running", "loss", "0.25", "curve", "table, 1 row(s)", "first"):
        assert expected in text
    assert "0.5" not in text  # only the latest value
    assert page.links == [f"http://127.0.0.1:5050/#/run/{run.id}"]
    run.complete()
    assert "Completed" in run_html(run)


def test_viewer_link_follows_runlog_ui_url(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """RUNLOG_UI_URL points the links at another viewer address."""
    monkeypatch.setenv("RUNLOG_UI_URL", "http://127.0.0.1:6060/")
    run = exp.start_logging(outputs=False)
    assert viewer_url(run.id) == f"http://127.0.0.1:6060/#/run/{run.id}"
    assert viewer_url() == "http://127.0.0.1:6060/"
    assert f"http://127.0.0.1:6060/#/run/{run.id}" in _parse(run_html(run)).links
    run.complete()


def test_every_run_string_is_escaped(exp: runlog.Experiment) -> None:
    """Metric names and values, tags, display names and errors with markup stay text."""
    evil = "<script>alert(1)</script>"
    run = exp.start_logging(outputs=False, display_name=evil)
    run.log(evil, evil)
    run.tag(evil, '"><img src=x onerror=alert(2)>')
    run.fail(error_details=evil)
    markup = run_html(run)
    page = _parse(markup)
    assert "script" not in page.tags and "img" not in page.tags
    assert evil in "".join(page.text)
    assert "&lt;script&gt;" in markup
    exp_page = _parse(experiment_html(exp))
    assert "script" not in exp_page.tags and evil in "".join(exp_page.text)


def test_experiment_html_lists_runs(exp: runlog.Experiment) -> None:
    """An experiment's HTML names it, counts its runs and links each run's viewer page."""
    runs = [exp.start_logging(outputs=False, display_name=f"r{i}") for i in range(3)]
    for run in runs:
        run.complete()
    page = _parse(exp._repr_html_())
    text = " ".join(page.text)
    assert "test-exp" in text and "3" in text and "Completed" in text
    assert {f"http://127.0.0.1:5050/#/run/{r.id}" for r in runs} <= set(page.links)


def test_html_does_not_import_the_web_stack(store: Path) -> None:
    """Rendering notebook HTML never imports starlette, uvicorn or the viewer package."""
    code = (
        "import sys, runlog\n"
        f"exp = runlog.Experiment(runlog.Workspace({str(store)!r}), 'html')\n"
        "run = exp.start_logging(outputs=False)\n"
        "run.log('loss', 1.0)\n"
        "run._repr_html_(); exp._repr_html_()\n"
        "run.complete()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('starlette', 'uvicorn', 'runlog.ui'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
