"""runlog: capture ML training runs' logs and metrics locally, with the Azure ML SDK v1 run API."""

from __future__ import annotations

from ._errors import (
    ActivityFailedError,
    DamagedRecordError,
    ExperimentNotFound,
    InvalidArgumentError,
    InvalidExperimentName,
    InvalidMetricValue,
    InvalidStatusTransition,
    RunFileNotFound,
    RunFinishedError,
    RunlogError,
    RunNotFound,
    SnapshotTooLargeError,
    StoreError,
    UnsupportedConfigurationError,
)
from ._jobs.distributed import get_rank_metrics
from ._jobs.submit import (
    Environment,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    ScriptRunConfig,
    TensorflowConfiguration,
)
from ._model.metrics import MetricPoint
from ._model.run import Run, RunStatus
from ._model.workspace import Experiment, Workspace
from .stdlib import RunHandler, metrics

__version__ = "0.1.0"

__all__ = [
    "ActivityFailedError",
    "DamagedRecordError",
    "Environment",
    "Experiment",
    "ExperimentNotFound",
    "InvalidArgumentError",
    "InvalidExperimentName",
    "InvalidMetricValue",
    "InvalidStatusTransition",
    "MetricPoint",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "Run",
    "RunConfiguration",
    "RunFileNotFound",
    "RunFinishedError",
    "RunHandler",
    "RunNotFound",
    "RunStatus",
    "RunlogError",
    "ScriptRunConfig",
    "SnapshotTooLargeError",
    "StoreError",
    "TensorflowConfiguration",
    "UnsupportedConfigurationError",
    "Workspace",
    "get_rank_metrics",
    "metrics",
    "__version__",
]

import logging as _logging

_logging.getLogger("runlog").addHandler(_logging.NullHandler())

from ._diagnostics import install as _install_redaction  # noqa: E402
from ._wiring import wire as _wire  # noqa: E402

_install_redaction()
_wire()
