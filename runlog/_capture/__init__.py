"""What a process emits, captured into its active run: the driver log, printed output
(file-descriptor capture), uncaught exceptions, log-line formatting and system metrics.

These are the producers' shared plumbing; the public integrations (:mod:`runlog.stdlib`,
:mod:`runlog.structlog`, :mod:`runlog.otel`) sit on top of them.
"""
