"""Fixtures of the store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runlog._store import damage


@pytest.fixture()
def fresh_damage_reports() -> Iterator[None]:
    """Damage is reported once per file: a test using this starts (and leaves) with nothing reported."""
    damage._reported.clear()
    yield
    damage._reported.clear()
