"""MLflow clients log into runlog runs: a tracking store for the ``runlog:`` URI scheme.

``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())`` (``runlog:///abs/path/to/store``) makes
every MLflow client of the process (the fluent API, ``MlflowClient``, PyTorch Lightning's
``MLFlowLogger``, transformers' ``MLflowCallback``, autologging) read and write the runlog store:

- experiments are runlog experiments (MLflow id ``"0"`` is ``Default``), runs are runlog runs with
  the same run ids;
- metrics go through the run's one writer (:func:`runlog._store.writer_for`), as ``run.log``
  values, with the client's step and timestamp; params are properties, tags are tags, statuses map
  both ways;
- artifacts are the run's files (the run's ``artifact_uri`` is ``file://<run>/files``);
- MLflow 3 logged models are kept as JSON records in ``<store>/models/`` with their files among the
  run's files (``models/<name>``); datasets, traces and the other MLflow 3 entities are not kept.

MLflow finds the class through the ``mlflow.tracking_store`` entry point named ``runlog``, which
names :mod:`runlog._mlflow.store`: MLflow loads its entry points while it is itself being imported,
so the entry point must not name this module (``import runlog.mlflow`` before ``import mlflow``
would then give MLflow a half-imported module and no ``runlog`` scheme). Nothing in
``import runlog`` imports this module. See ``docs/mlflow-clients.md``.
"""

from __future__ import annotations

from ._mlflow.store import RunlogTrackingStore

__all__ = ["RunlogTrackingStore"]
