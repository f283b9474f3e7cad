"""runlog: capture ML training runs' logs and metrics locally, with the Azure ML SDK v1 run API."""

from __future__ import annotations

from ._errors import (
    ExperimentNotFound,
    InvalidExperimentName,
    InvalidMetricValue,
    InvalidStatusTransition,
    RunFileNotFound,
    RunFinishedError,
    RunlogError,
    RunNotFound,
    StoreError,
)
from ._metrics import MetricPoint
from ._run import Run, RunStatus
from ._workspace import Experiment, Workspace

__version__ = "0.1.0"

__all__ = [
    "Experiment",
    "ExperimentNotFound",
    "InvalidExperimentName",
    "InvalidMetricValue",
    "InvalidStatusTransition",
    "MetricPoint",
    "Run",
    "RunFileNotFound",
    "RunFinishedError",
    "RunNotFound",
    "RunStatus",
    "RunlogError",
    "StoreError",
    "Workspace",
    "__version__",
]

import logging as _logging

_logging.getLogger("runlog").addHandler(_logging.NullHandler())
