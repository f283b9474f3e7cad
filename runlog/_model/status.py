"""Run statuses (Azure ML's ``RunStatus``), run ids and the error details of a failed run."""

from __future__ import annotations

import datetime as _dt
import re
import secrets
import time
import traceback
from collections.abc import Mapping
from typing import Any

__all__ = ["RunStatus", "make_error_details", "validate_run_id"]


class RunStatus:
    """The status values of a run (as Azure ML's ``RunStatus``)."""

    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    PROVISIONING = "Provisioning"
    STARTING = "Starting"
    RUNNING = "Running"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELED = "Canceled"
    FINALIZING = "Finalizing"
    COMPLETED = "Completed"
    FAILED = "Failed"

    TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})

    @classmethod
    def list(cls) -> list[str]:
        return [
            cls.NOT_STARTED, cls.QUEUED, cls.PREPARING, cls.PROVISIONING, cls.STARTING, cls.RUNNING,
            cls.CANCEL_REQUESTED, cls.CANCELED, cls.FINALIZING, cls.COMPLETED, cls.FAILED,
        ]  # fmt: skip


def _utc(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _new_run_id(experiment: str) -> str:
    return f"{experiment}_{int(time.time())}_{secrets.token_hex(4)}"


def validate_run_id(run_id: Any) -> str:
    """``run_id`` if it can name a run folder (``[\\w\\-.]{1,255}``, not ``.`` or ``..``); else ValueError."""
    if not isinstance(run_id, str) or not re.fullmatch(r"[\w\-.]{1,255}", run_id) or run_id in (".", ".."):
        raise ValueError(
            f"a run id may contain only letters, digits, '_', '-' and '.' (at most 255, not '.' or '..'); "
            f"got {run_id!r}. Leave run_id out to get a generated one"
        )
    return run_id


def make_error_details(error: Any, error_code: str | None = None) -> dict[str, Any]:
    """Azure's error shape ``{"code", "message", ...}`` from an exception, str or dict."""
    if isinstance(error, Mapping):
        details = dict(error.get("error", error))
        details.setdefault("code", error_code or "UserError")
        return details
    if isinstance(error, BaseException):
        return {
            "code": error_code or "UserError",
            "message": f"{type(error).__name__}: {error}",
            "type": type(error).__name__,
            "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        }
    return {"code": error_code or "UserError", "message": "" if error is None else str(error)}
