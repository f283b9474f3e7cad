"""runlog._model.hooks: the seams through which the layers above the run model plug into it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import runlog
from runlog._model.hooks import Seams, seams


@pytest.mark.parametrize(
    "name", ["environment_run", "offline_run", "submit", "wait_for_completion", "terminate", "start_sampler"]
)
def test_a_seam_nobody_filled_raises_naming_it(name: str) -> None:
    fresh = Seams()
    with pytest.raises(RuntimeError, match=rf"seam '{name}' was not filled: import runlog"):
        getattr(fresh, name)(1, key=2)


def test_unfilled_uploads_raise_and_filled_ones_are_given() -> None:
    fresh = Seams()
    assert fresh.run_started == []
    with pytest.raises(RuntimeError, match="seam 'uploads' was not filled"):
        fresh.upload()
    uploads = SimpleNamespace(attach=None, finish=None)
    fresh.uploads = uploads  # type: ignore[assignment]
    assert fresh.upload() is uploads


def test_each_registry_has_its_own_hook_list() -> None:
    one, two = Seams(), Seams()
    one.run_started.append(print)
    assert two.run_started == []


def test_importing_runlog_fills_every_seam() -> None:
    assert runlog is not None
    for name in ("environment_run", "offline_run", "submit", "wait_for_completion", "terminate", "start_sampler"):
        assert getattr(seams, name).__qualname__ != "_unfilled.<locals>.call", name
    assert seams.run_started  # capture's hooks
    assert seams.upload() is not None
