"""A training script whose logging reaches the run with one line of set-up.

``logging.basicConfig(level=logging.DEBUG, ...)`` at the top also shows runlog's own
DEBUG diagnostics (``DEBUG:runlog.run:created run ...``) on the console; in the run they
go to ``logs/runlog_system.txt``, never into the driver log.

    python examples/logging_basicconfig.py
    runlog logs <run id printed at the end>
"""

import logging
import random

import runlog

logging.basicConfig(level=logging.DEBUG, handlers=[logging.StreamHandler(), runlog.RunHandler()])
log = logging.getLogger("train")

run = runlog.Experiment(runlog.Workspace(), "logging-basicconfig").start_logging()
log.info("training on %d examples", 1000)
loss = 1.0
for epoch in range(1, 6):
    loss *= random.uniform(0.6, 0.9)
    # A tagged metric event: the line goes to the driver log, the values to the metric store.
    log.info("epoch %d done", epoch, extra=runlog.metrics(loss=loss, acc=1 - loss / 2, step=epoch))
run.complete()

print(f"run {run.id}: {run.get_metrics()['loss']}")
print(open(run.path / "files" / "logs" / "driver_log.txt").read())
