"""MLflow's API logging into runlog runs: a small learning-rate sweep, then mlflow.search_runs over it.

No MLflow server: the tracking URI is the runlog store's own (``runlog:///...``), so every MLflow call
below lands in a runlog run, with runlog's run ids, beside the program's `logging` records (RunHandler)
in the same run's driver log. Look at the runs afterwards with `runlog runs`, `runlog ui`, or
`mlflow ui --backend-store-uri <the URI printed below>`.

    pip install 'runlog[mlflow]' numpy && python examples/mlflow_clients.py
"""

from __future__ import annotations

import logging

import mlflow
import numpy as np

import runlog

log = logging.getLogger("sweep")


def train(lr: float, epochs: int = 5) -> float:
    """Gradient descent on a noisy linear problem; logs through MLflow, returns the last validation loss."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=200)
    x_train, y_train, x_val, y_val = x[:150], y[:150], x[150:], y[150:]
    w = np.zeros(3)
    mlflow.log_params({"lr": lr, "epochs": epochs, "optimizer": "sgd"})
    val_loss = float("nan")
    for epoch in range(epochs):
        grad = 2 * x_train.T @ (x_train @ w - y_train) / len(y_train)
        w -= lr * grad
        train_loss = float(np.mean((x_train @ w - y_train) ** 2))
        val_loss = float(np.mean((x_val @ w - y_val) ** 2))
        mlflow.log_metrics({"train_loss": train_loss, "val_loss": val_loss}, step=epoch)
        log.info("lr=%s epoch %d: val_loss %.4f", lr, epoch, val_loss)
    mlflow.log_dict({"weights": w.tolist()}, "model/weights.json")
    return val_loss


def main() -> None:
    logging.basicConfig(level=logging.INFO, handlers=[logging.StreamHandler(), runlog.RunHandler()])
    ws = runlog.Workspace.from_config()
    uri = ws.get_mlflow_tracking_uri()
    print("MLflow tracking URI:", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("mlflow-sweep")
    for lr in (0.01, 0.05, 0.2):
        with mlflow.start_run(run_name=f"lr={lr}") as active:
            train(lr)
        run = ws.get_run(active.info.run_id)  # the same run, read with runlog's API
        print(f"{run.id}: {run.get_status()}, val_loss {run.get_metrics()['val_loss'][-1]:.4f}")
    best = mlflow.search_runs(
        experiment_names=["mlflow-sweep"], filter_string="metrics.val_loss < 10", order_by=["metrics.val_loss ASC"]
    )
    print(best[["run_id", "params.lr", "metrics.val_loss"]].to_string(index=False))
    print(f"best run: {best['run_id'].iloc[0]} (lr={best['params.lr'].iloc[0]})")


if __name__ == "__main__":
    main()
