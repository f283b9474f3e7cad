"""Fixtures of the uploader's tests."""

from __future__ import annotations

import pytest

import runlog


@pytest.fixture()
def run(exp: runlog.Experiment) -> runlog.Run:
    """A run with no tracking URI."""
    return exp.start_logging(outputs=False)
