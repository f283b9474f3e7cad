"""runlog._upload._target: the Target protocol and the events a target is sent."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from upload_helpers import MemoryTarget

from runlog._upload._target import CONTENT_REFUSALS, MetaEvent, MetricEvent, RunInfo, Target


def test_memory_target_satisfies_the_protocol() -> None:
    """The Target protocol is small and checkable at runtime."""
    assert isinstance(MemoryTarget(), Target)


def test_only_refusals_of_the_content_are_content_refusals() -> None:
    """400, 413 and 422 refuse what was sent; 401, 403, 404, redirects and 415 refuse where or by whom."""
    assert CONTENT_REFUSALS == {400, 413, 422}
    assert not CONTENT_REFUSALS & {301, 302, 401, 403, 404, 415}


def test_events_are_named_tuples_in_their_documented_order(tmp_path: Path) -> None:
    event = MetricEvent("s", "loss", 0.5, None, 1.5, 7, "p.points.bin")
    assert event._asdict() == {
        "kind": "s", "name": "loss", "value": 0.5, "step": None, "time": 1.5, "seq": 7, "source": "p.points.bin"
    }  # fmt: skip
    assert MetaEvent("tag", "k", "v", 2.0) == ("tag", "k", "v", 2.0)
    info = RunInfo("r", "e", tmp_path, {}, None, 1.0, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.run_id = "other"  # type: ignore[misc]


def test_an_object_lacking_a_method_is_no_target() -> None:
    class Incomplete:
        name, endpoint, max_points, max_meta = "x", "y", 1, 1

        def open(self, run: RunInfo, state: dict[str, Any]) -> None:
            pass

    assert not isinstance(Incomplete(), Target)
