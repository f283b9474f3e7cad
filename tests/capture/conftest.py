"""Fixtures of the capture layer's tests."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator

import pytest
from _logging_helpers import restored_logging

from runlog._capture import driverlog, excepthook


@pytest.fixture(scope="module")
def local_time_is_not_utc() -> Iterator[None]:
    """A time zone with an offset and daylight saving time, so that local time and UTC differ."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Paris"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.fixture()
def restored() -> Iterator[None]:
    """Named loggers, the exception hooks, the pending buffer (with its counts) and the JSON-lines flag are put
    back after a test: a record counted but never flushed would be counted as dropped by a later test's flush."""
    with restored_logging():
        yield
    excepthook.json_lines = False
    driverlog._pending_total = itertools.count()
    driverlog._pending_seen = 0
