"""A structlog application: runlog.structlog.RunProcessor sends every event to the run.

The console shows structlog's usual output; the run's driver log gets one JSON line
per event, and ``metrics=``/``step=`` keys go to the metric store. Plain stdlib
records (from libraries) reach the run through the same RunHandler-free pipeline via
``ProcessorFormatter``'s ``foreign_pre_chain``.

    python examples/structlog_app.py
"""

import logging
import sys

import structlog

import runlog
from runlog.structlog import RunProcessor

shared = [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)]
to_run = RunProcessor()

# structlog's own events: RunProcessor before the console renderer.
structlog.configure(
    processors=[*shared, to_run, structlog.dev.ConsoleRenderer(colors=False)],
    logger_factory=structlog.PrintLoggerFactory(sys.stdout),
)
# stdlib records of libraries: the same processor in ProcessorFormatter's foreign_pre_chain.
console = logging.StreamHandler(sys.stdout)
console.setFormatter(
    structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, to_run],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.dev.ConsoleRenderer(colors=False)],
    )
)
logging.basicConfig(level=logging.INFO, handlers=[console])

log = structlog.get_logger()
with runlog.Experiment(runlog.Workspace(), "structlog-app").start_logging() as run:
    log.info("training started", examples=1000)
    logging.getLogger("some.library").info("a stdlib record from a library")
    loss = 1.0
    for epoch in range(1, 4):
        loss *= 0.7
        log.info("epoch done", metrics={"loss": loss}, step=epoch)

print(f"run {run.id}: loss = {run.get_metrics()['loss']}")
print(open(run.path / "files" / "logs" / "driver_log.txt").read())
