"""An existing application with a dictConfig logging set-up adds one handler: runlog.RunHandler.

The console keeps its format; the run gets JSON lines (``"json": True``), with the
``extra`` fields of each record, and the tagged metrics in its metric store.

    python examples/existing_app.py
"""

import logging
import logging.config
import time

import runlog

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"console": {"format": "%(asctime)s %(levelname)-8s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "console", "level": "INFO"},
        # The one added handler ("()" works too: {"()": "runlog.RunHandler", "json": True}).
        "run": {"class": "runlog.RunHandler", "json": True, "level": "INFO"},
    },
    "root": {"level": "INFO", "handlers": ["console", "run"]},
}


def serve(requests: int) -> None:
    log = logging.getLogger("app.server")
    for i in range(requests):
        started = time.perf_counter()
        log.info("handled request", extra={"path": f"/items/{i}", "status": 200})
        latency_ms = (time.perf_counter() - started) * 1000
        log.info("request timing", extra=runlog.metrics(latency_ms=latency_ms, step=i))


def main() -> None:
    logging.config.dictConfig(LOGGING)
    with runlog.Experiment(runlog.Workspace(), "existing-app").start_logging() as run:
        serve(5)
    print(f"run {run.id} metrics: {sorted(run.get_metrics())}")
    print(open(run.path / "files" / "logs" / "driver_log.txt").read())


if __name__ == "__main__":
    main()
