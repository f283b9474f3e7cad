"""runlog._store.damage: damage a reader skipped is a WARNING once per file and kind, DEBUG afterwards."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runlog._store import damage
from runlog._store.damage import report_damage

pytestmark = pytest.mark.usefixtures("fresh_damage_reports")


def _records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "runlog.store"]


def test_the_first_report_of_a_file_is_a_warning_and_later_ones_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="runlog.store"):
        report_damage(Path("/s/a.metrics.jsonl"), "2 unreadable line(s)", " (not JSON)")
        report_damage(Path("/s/a.metrics.jsonl"), "5 unreadable line(s)", " (not JSON)")  # the same kind, another count
    (first_level, first), (second_level, second) = _records(caplog)
    assert first_level == logging.WARNING
    assert first.startswith(
        "skipped 2 unreadable line(s) in /s/a.metrics.jsonl (not JSON); everything else of the run is read"
    )
    assert "DEBUG" in first
    assert (second_level, second) == (logging.DEBUG, "skipped 5 unreadable line(s) in /s/a.metrics.jsonl (not JSON)")


def test_another_file_or_another_kind_of_damage_is_reported_again(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="runlog.store"):
        report_damage("/s/a.metrics.jsonl", "1 unreadable line(s)")
        report_damage("/s/b.metrics.jsonl", "1 unreadable line(s)")
        report_damage("/s/a.metrics.jsonl", "1 malformed event(s)")
    assert [level for level, _ in _records(caplog)] == [logging.WARNING] * 3


def test_damage_of_no_named_file_is_only_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="runlog.store"):
        report_damage(None, "1 unreadable line(s)")
    assert _records(caplog) == [(logging.DEBUG, "skipped 1 unreadable line(s) in an events file")]
    assert damage._reported == set()


def test_a_message_replaces_the_usual_text(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="runlog.store"):
        report_damage("/s/run.json", "the run record", message="run.json of run r is damaged")
        report_damage("/s/run.json", "the run record", message="run.json of run r is damaged")
    assert _records(caplog) == [
        (logging.WARNING, "run.json of run r is damaged. Set the runlog logger to DEBUG for details"),
        (logging.DEBUG, "run.json of run r is damaged"),
    ]
