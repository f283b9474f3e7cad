"""The one exception tree of runlog.

Every error subclasses :class:`RunlogError` *and* the built-in that matches its
meaning, so ``except ValueError`` in user code keeps working.
"""

from __future__ import annotations

__all__ = [
    "ActivityFailedError",
    "DamagedRecordError",
    "ExperimentNotFound",
    "InvalidArgumentError",
    "InvalidExperimentName",
    "InvalidMetricValue",
    "InvalidStatusTransition",
    "RunFileNotFound",
    "RunFinishedError",
    "RunNotFound",
    "RunlogError",
    "SnapshotTooLargeError",
    "StoreError",
    "UnsupportedConfigurationError",
    "UploadError",
    "UploadRejected",
    "UploadUnavailable",
]


def did_you_mean(name: str, candidates: list[str], otherwise: str = "") -> str:
    """A message tail naming the close matches of ``name`` (or ``otherwise`` when there are none)."""
    import difflib  # deferred: only on the error path, so `import runlog` stays cheap

    close = difflib.get_close_matches(name, candidates, n=3)
    return f" Did you mean {', '.join(close)}?" if close else otherwise


class RunlogError(Exception):
    """Base class of every error runlog raises on purpose."""


class InvalidMetricValue(RunlogError, TypeError):
    """A value given to ``run.log*`` cannot be stored as that metric kind."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class InvalidArgumentError(RunlogError, ValueError, TypeError):
    """An argument of the wrong type or shape (a list as a tag key, None as a dict of properties).

    Both a ``ValueError`` and a ``TypeError``, so code catching either keeps working.
    """

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class InvalidExperimentName(RunlogError, ValueError):
    """An experiment name does not match the allowed pattern."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class RunNotFound(RunlogError, LookupError):
    """No run with the given id exists in the store."""

    def __init__(self, message: str, *, run_id: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.suggestions = suggestions or []


class ExperimentNotFound(RunlogError, LookupError):
    """No experiment with the given name exists in the store."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class RunFinishedError(RunlogError, RuntimeError):
    """Something was logged to a run that has already completed, failed or been canceled."""

    def __init__(self, message: str, *, run_id: str, status: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status


class StoreError(RunlogError, OSError):
    """The local store could not be read or written."""


class DamagedRecordError(StoreError, ValueError):
    """A record of the store (a run's ``run.json``, an ``experiment.json``) cannot be read: damaged or unreadable."""

    def __init__(self, message: str, *, path: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.run_id = run_id


class RunFileNotFound(RunlogError, FileNotFoundError):
    """A run has no file of the given name."""

    def __init__(self, message: str, *, run_id: str, name: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.name = name


class InvalidStatusTransition(RunlogError, RuntimeError):
    """A status change that the run's current status does not allow."""

    def __init__(self, message: str, *, run_id: str, status: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status


class ActivityFailedError(RunlogError, RuntimeError):
    """A submitted run ended Failed (``wait_for_completion(raise_on_error=True)``)."""

    def __init__(self, message: str, *, run_id: str, exit_code: int | None, error: dict[str, object]) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.exit_code = exit_code
        self.error = error


class SnapshotTooLargeError(RunlogError, ValueError):
    """The source directory of a submitted script is larger than the snapshot size cap."""

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class UnsupportedConfigurationError(RunlogError, NotImplementedError):
    """A run configuration runlog does not run locally (conda, Docker, remote compute, multi-node)."""


class UploadError(RunlogError, ConnectionError):
    """An upload to a remote target (e.g. an MLflow tracking server) did not go through."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class UploadUnavailable(UploadError):
    """The target could not take the request now (down, slow, overloaded): worth retrying."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class UploadRejected(UploadError):
    """The target refused the request itself (bad value, auth, missing run): retrying cannot help."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, hint: str = "") -> None:
        super().__init__(message, status=status, code=code)
        self.hint = hint
