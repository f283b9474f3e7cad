"""Shared fixtures: a fresh store per test, and global state (logging, active run) restored after it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fake_mlflow import FakeMlflow
from hypothesis import HealthCheck, settings

import runlog
from runlog._capture import driverlog as _driverlog
from runlog._capture import excepthook as _excepthook
from runlog._model import context as _context
from runlog._upload import mlflow as mlflow_target

# Hypothesis: deterministic and bounded in `make test` and CI ("ci"); `make fuzz` runs the property
# suites with many more random examples ("fuzz"). HYPOTHESIS_PROFILE picks one.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile(
    "fuzz", deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own store and working folder; logging and the active run are restored after."""
    store = tmp_path / "store"
    monkeypatch.setenv("RUNLOG_STORE", str(store))
    for var in ("RUNLOG_RUN_ID", "RUNLOG_EXPERIMENT", "RUNLOG_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    # System metrics would add system/ series to runs that outlive the interval: off unless a test turns them on.
    monkeypatch.setenv("RUNLOG_SYSTEM_METRICS", "0")
    monkeypatch.delenv("RUNLOG_SYSTEM_METRICS_INTERVAL", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    saved_level = root.level
    runlog_logger = logging.getLogger("runlog")
    saved_runlog = (runlog_logger.handlers[:], runlog_logger.level, runlog_logger.propagate)
    saved_disable = logging.root.manager.disable
    saved_runs = list(_context._process_runs)
    token = _context._current.set(None)
    _context._env_run, _context._env_checked = None, False
    yield
    _context._current.reset(token)
    _context._env_run, _context._env_checked = None, False
    for run in list(_context._process_runs):
        if run not in saved_runs and not run._finished and run._owner_pid == os.getpid():
            run._finished = True  # ended by the test's end, not marked: the store is thrown away
            run._stop_system_metrics()
    _context._process_runs[:] = saved_runs
    _context._exported.clear()  # the RUNLOG_* variables themselves are restored by monkeypatch
    _context._uncaught.clear()
    _excepthook.uninstall()  # hooks installed when a run started or a RunHandler was created
    _driverlog._pending.clear()  # records logged with no active run must not reach the next test's run
    _driverlog._pending_system.clear()
    for handler in root.handlers[:]:
        if handler not in saved_handlers:
            root.removeHandler(handler)
            handler.close()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    runlog_logger.handlers[:], runlog_logger.level, runlog_logger.propagate = saved_runlog
    logging.disable(saved_disable)


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    """The store folder of this test (also in $RUNLOG_STORE)."""
    return tmp_path / "store"


@pytest.fixture()
def ws(store: Path) -> runlog.Workspace:
    """A workspace on this test's store."""
    return runlog.Workspace(store)


@pytest.fixture()
def exp(ws: runlog.Workspace) -> runlog.Experiment:
    """An experiment named 'test-exp' in this test's store."""
    return runlog.Experiment(ws, "test-exp")


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMlflow]:
    """A fake MLflow server every MlflowTarget of the test talks to, with fast retries."""
    server = FakeMlflow()
    monkeypatch.setattr(mlflow_target, "default_transport", server.transport())
    for name, value in (("RETRY_INITIAL", "0.001"), ("RETRY_MAX", "0.01"), ("INTERVAL", "0.02"), ("LOG_INTERVAL", "0")):
        monkeypatch.setenv(f"RUNLOG_UPLOAD_{name}", value)
    yield server
