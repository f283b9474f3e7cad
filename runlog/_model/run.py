"""Run: one training run, with the Azure ML SDK v1 run API on the local store."""

from __future__ import annotations

import builtins
import getpass
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._errors import InvalidStatusTransition, StoreError
from .._store import RunReader, RunState, layout, writer_for
from .._store.validation import check_key, check_keys, check_mapping
from . import context as _context
from .hooks import Sampler, seams
from .html import run_html
from .metrics import MetricPoint
from .pending import PendingWrites, strict_from_env
from .run_files import RunFiles
from .run_metrics import RunMetrics
from .status import RunStatus, _new_run_id, _utc, make_error_details, validate_run_id

if TYPE_CHECKING:
    from .workspace import Experiment, Workspace

__all__ = ["Run", "RunStatus"]

_log = logging.getLogger("runlog.run")
_offline_lock = threading.RLock()  # re-entrant: a logging handler may call get_context while a run is created


def _after_fork_in_child() -> None:
    global _offline_lock
    _offline_lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Run(RunMetrics, RunFiles):
    """A run of an experiment.

    ``Run(experiment, run_id)`` fetches an existing run; new runs come from
    ``experiment.start_logging()``, ``run.child_run()`` or ``Run.get_context()``.
    """

    def __init__(self, experiment: Experiment, run_id: str, outputs: Any = None, **kwargs: Any) -> None:
        if not hasattr(experiment, "name") or not hasattr(getattr(experiment, "workspace", None), "store"):
            raise TypeError(
                f"Run(experiment, run_id) takes a runlog Experiment first; got {type(experiment).__name__}. "
                f"To find a run by id alone use Workspace.from_config().get_run(run_id)"
            )
        self.experiment = experiment
        self.id = run_id
        self._dir = layout.run_dir(experiment.workspace.store, experiment.name, str(run_id))
        self._reader = RunReader(self._dir)
        if not isinstance(run_id, str) or "/" in run_id or not self._reader.exists():
            raise experiment.workspace._run_not_found(str(run_id), experiment.name)
        # A damaged run.json (reported once) leaves the run readable: its metrics, logs and files.
        self._record, self._damage = self._reader.record_or_damage()
        self._writer = writer_for(self._dir)
        self._owner_pid = -1
        self._outputs: Path | None = None
        self._finished = self._reader.state().status in RunStatus.TERMINAL
        self._context_tokens: list[object] = []
        self._strict = strict_from_env()  # raise at once when the store cannot be written (else: kept, see _pending)
        self._pending: PendingWrites | None = None
        self._sampler: Sampler | None = None

    # -- creation ------------------------------------------------------------------

    @classmethod
    def _create(
        cls,
        experiment: Experiment,
        *,
        parent: Run | None = None,
        display_name: str | None = None,
        run_id: str | None = None,
        run_type: str = "local",
        status: str = RunStatus.RUNNING,
        extra: Mapping[str, Any] | None = None,
    ) -> Run:
        run_id = validate_run_id(run_id or _new_run_id(experiment.name))
        run_dir = layout.run_dir(experiment.workspace.store, experiment.name, run_id)
        if (run_dir / layout.RUN_RECORD).exists():
            raise ValueError(f"a run with id {run_id!r} already exists in experiment {experiment.name!r}")
        record = {
            "format": layout.FORMAT_VERSION,
            "run_id": run_id,
            "experiment": experiment.name,
            "parent_id": parent.id if parent is not None else None,
            "run_type": run_type,
            "created": time.time(),
            "host": _hostname(),
            "pid": os.getpid(),
            "user": _user(),
            "python": sys.version.split()[0],
            "argv": list(sys.argv),
            "cwd": os.getcwd(),
            **(extra or {}),
        }
        try:
            (run_dir / layout.EVENTS_DIR).mkdir(parents=True, exist_ok=True)
            (run_dir / layout.FILES_DIR).mkdir(parents=True, exist_ok=True)
            layout.write_json_atomic(run_dir / layout.RUN_RECORD, record)
        except OSError as exc:
            raise StoreError(
                f"cannot create run {run_id} in {run_dir} ({exc.strerror or exc}); free disk space or make the store "
                f"writable (or point RUNLOG_STORE at a folder that is), then start the run again"
            ) from exc
        run = cls(experiment, run_id)
        if display_name:
            run._writer.meta("name", None, str(display_name))
        run._writer.meta("status", status, None)
        run._finished = status in RunStatus.TERMINAL
        _log.debug("created run %s of experiment %s at %s", run_id, experiment.name, run_dir)
        return run

    @classmethod
    def _start(
        cls,
        experiment: Experiment,
        *,
        parent: Run | None = None,
        display_name: str | None = None,
        outputs: Any = "./outputs",
        run_type: str = "local",
        run_id: str | None = None,
        system_metrics: bool | None = None,
        extra: Mapping[str, Any] | None = None,
        strict: bool | None = None,
    ) -> Run:
        run = cls._create(
            experiment, parent=parent, display_name=display_name, run_type=run_type, run_id=run_id, extra=extra
        )
        if strict is not None:
            run._strict = bool(strict)
        run._owner_pid = os.getpid()
        run._outputs = Path(outputs).absolute() if outputs else None
        _context.started(run)
        run._start_upload()
        if parent is None and not (extra or {}).get("parent_id"):  # a child run shares its parent's machine
            pid = os.getpid()
            run._start_system_metrics(system_metrics, lambda: (pid,))
        return run

    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any) -> Run:
        """The run this code should log to.

        The active run of this context or process; else the run a submitted script
        was started for (``RUNLOG_RUN_ID``); else, when ``allow_offline``, a local run
        of this script created now and completed when the interpreter exits.
        """
        run = _context.active_run()
        if run is not None:
            return run
        if not allow_offline:
            raise RuntimeError(
                "Run.get_context(allow_offline=False) found no active run: start one with "
                "experiment.start_logging() or submit the script with experiment.submit(...)"
            )
        with _offline_lock:  # threads asking at the same moment share one new run
            run = _context.active_run()
            if run is not None:
                return run
            run = seams.offline_run()  # in the workspace of Workspace.from_config(), named after the script
        _log.debug("Run.get_context(): no active run; started local run %s", run.id)
        return run

    @staticmethod
    def get(workspace: Workspace, run_id: str) -> Run:
        """Fetch a run by id from any experiment of the workspace."""
        return workspace.get_run(run_id)

    # -- identity -------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The run's folder in the store."""
        return self._dir

    @property
    def parent(self) -> Run | None:
        parent_id = self._record.get("parent_id")
        return Run(self.experiment, parent_id) if parent_id else None

    @property
    def type(self) -> str:
        return str(self._record.get("run_type", "local"))

    @property
    def display_name(self) -> str:
        return self._reader.state().display_name or self.id

    @display_name.setter
    def display_name(self, value: str) -> None:
        self._meta("name", None, str(value))

    @property
    def name(self) -> str:
        return self.display_name

    @property
    def description(self) -> str | None:
        return self._reader.state().description

    @description.setter
    def description(self, value: str) -> None:
        self._meta("description", None, str(value))

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def tags(self) -> dict[str, str]:
        return self.get_tags()

    @property
    def properties(self) -> dict[str, str]:
        return self.get_properties()

    # -- tags and properties ------------------------------------------------------------

    def tag(self, key: str, value: Any = None) -> None:
        """Set tag ``key`` (value ``""`` when omitted; values are stored as strings)."""
        key = check_key(key, call="run.tag", what="tag key")
        self._meta("tag", key, "" if value is None else str(value))

    def set_tags(self, tags: Mapping[str, Any] | Iterable[str]) -> None:
        """Set several tags: a dict ``{key: value}`` or keys alone (each value ``""``)."""
        if isinstance(tags, Mapping):
            items = [(check_key(k, call="run.set_tags", what="tag key"), v) for k, v in tags.items()]
        else:
            items = [(k, None) for k in check_keys(tags, call="run.set_tags", what="tag key")]
        for key, value in items:  # every key checked first: a bad one leaves nothing half-set
            self.tag(key, value)

    def get_tags(self) -> dict[str, str]:
        return dict(self._reader.state().tags)

    def remove_tags(self, tags: str | Iterable[str]) -> None:
        """Remove one tag (a str) or several (a list of keys)."""
        for key in check_keys(tags, call="run.remove_tags", what="tag key"):
            self._meta("untag", key, None)

    def add_properties(self, properties: Mapping[str, Any]) -> None:
        """Add properties; they are immutable: a key keeps its first value."""
        check_mapping(properties, call="run.add_properties", what="properties", example="{'seed': '42'}")
        current = self.get_properties()
        # Stored as str (an int key too, as before): compare as str.
        given = {check_key(k, call="run.add_properties", what="property key", numbers=True): str(v) for k, v in properties.items()}
        for key, value in given.items():
            if key in current and current[key] != value:
                raise ValueError(
                    f"property {key!r} is already {current[key]!r}; properties cannot change (use a tag for a value that changes)"
                )
        for key, value in given.items():
            if key not in current:
                self._meta("prop", key, value)

    def get_properties(self) -> dict[str, str]:
        return dict(self._reader.state().properties)

    # -- status and details -------------------------------------------------------------

    def _state(self) -> RunState:
        return self._reader.state()

    def get_status(self) -> str:
        return self._reader.state().status

    def get_details(self) -> dict[str, Any]:
        """Azure's run details: ids, status, times, tags, properties, log files and any error."""
        state = self._reader.state()
        details: dict[str, Any] = {
            "runId": self.id,
            "displayName": state.display_name or self.id,
            "experiment": self.experiment.name,
            "parentRunId": self._record.get("parent_id"),
            "target": "local",
            "runType": self.type,
            "status": state.status,
            "startTimeUtc": _utc(state.start_time),
            "endTimeUtc": _utc(state.end_time),
            "tags": dict(state.tags),
            "properties": dict(state.properties),
            "inputDatasets": [],
            "outputDatasets": [],
            "submittedBy": self._record.get("user"),
            "host": self._record.get("host"),
            "logFiles": {n: str(self._dir / layout.FILES_DIR / n) for n in self._reader.iter_log_names()},
        }
        if state.description:
            details["description"] = state.description
        if state.error is not None:
            details["error"] = {"error": state.error}
        if (self._dir / "upload").is_dir():
            details["mlflowRunId"] = seams.upload().remote_run_id(self, wait=0)
        return details

    def get_details_with_logs(self) -> dict[str, Any]:
        """``get_details()`` with the content of each log file under ``logFiles``."""
        details = self.get_details()
        details["logFiles"] = {
            n: Path(p).read_text(encoding="utf-8", errors="replace") for n, p in details["logFiles"].items()
        }
        return details

    def _set_status(self, status: str, details: Any = None) -> None:
        self._meta("status", status, details)

    def _ended_elsewhere(self) -> bool:
        """True (and this object marked finished) when the store says the run ended already.

        Another process (``run.cancel()`` from elsewhere, a wait that found the supervisor
        gone) may have ended the run while this object still thinks it open.
        """
        if self._finished or self.get_status() not in RunStatus.TERMINAL:
            return False
        self._finished = True
        self._stop_system_metrics()
        _context.finished(self)
        self._writer.close()
        self._finish_upload()
        return True

    def _end(self, status: str, details: dict[str, Any] | None = None, *, authoritative: bool = False) -> None:
        # ``authoritative``: the caller decides the end whatever the store says already (the
        # supervisor of a submitted script: the script's exit status wins over a run.complete()
        # the script called itself).
        if not self._finished and not authoritative:
            current = self.get_status()
            if current in RunStatus.TERMINAL and current != status:
                self._ended_elsewhere()
        if self._finished:
            current = self.get_status()
            if current == status:
                return
            raise InvalidStatusTransition(
                f"run {self.id} is already {current}; it cannot become {status}", run_id=self.id, status=current
            )
        if self._pending is not None:
            self._pending.drain(force=True)  # what was kept while the store failed goes first
        self._finished = True
        self._stop_system_metrics()
        try:
            try:
                self._collect_outputs()
            finally:  # even when interrupted (Ctrl-C while a big ./outputs is copied): never left Running
                self._set_status(status, details)
        except StoreError as exc:
            # Not ended: the object says what the store says, and the call can be made again.
            self._finished = False
            verb = {RunStatus.COMPLETED: "complete", RunStatus.FAILED: "fail", RunStatus.CANCELED: "cancel"}.get(status, "complete")
            raise StoreError(
                f"run {self.id} could not be marked {status} ({exc}); it is still {self.get_status()}: call "
                f"run.{verb}() again once the store can be written"
            ) from exc
        _context.finished(self)
        self._writer.sync()
        self._writer.close()
        _log.debug("run %s ended: %s", self.id, status)
        self._report_pending("the run ended without them")
        self._finish_upload()

    def _report_pending(self, outcome: str) -> None:
        report = self._pending.report() if self._pending is not None else None
        if report:
            _log.warning("%s; %s", report, outcome)

    # -- system metrics (runlog._capture.sysmetrics, through a seam) --------------------------------------------------

    def _start_system_metrics(
        self, enabled: bool | None, roots: Callable[[], Iterable[int]], environ: Mapping[str, str] | None = None
    ) -> None:
        """Sample system metrics in a daemon thread until the run ends (unless switched off).

        ``roots``: the pids whose process trees are the run's processes; ``environ``: where
        ``RUNLOG_SYSTEM_METRICS*`` are read (default ``os.environ``).
        """
        if self._sampler is None:
            self._sampler = seams.start_sampler(self, enabled, roots, environ)

    def _stop_system_metrics(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.stop()

    # -- upload to a tracking server (runlog._upload) -------------------------------------

    def _start_upload(self) -> None:
        if self.experiment.workspace.tracking_uri:
            seams.upload().attach(self)

    def _finish_upload(self) -> None:
        if self.experiment.workspace.tracking_uri:
            seams.upload().finish(self)

    @property
    def mlflow_run_id(self) -> str | None:
        """The id of this run's MLflow run on the workspace's tracking server (None until it exists).

        Log into the same remote run with any MLflow client, e.g.
        ``mlflow.start_run(run_id=run.mlflow_run_id)`` after
        ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())``.
        """
        return seams.upload().remote_run_id(self)

    def get_remote_metrics(self, name: str | None = None) -> dict[str, list[MetricPoint]]:
        """The metric histories of this run's MLflow run, read back from the tracking server.

        ``{key: [MetricPoint(value, step, time), ...]}`` in the server's order; this includes
        points other MLflow clients logged into the same remote run.
        """
        return seams.upload().remote_metrics(self, name)

    def start(self) -> None:
        """Mark a run that has not started yet as Running."""
        status = self.get_status()
        if status in RunStatus.TERMINAL:
            raise InvalidStatusTransition(f"run {self.id} is already {status}", run_id=self.id, status=status)
        self._set_status(RunStatus.RUNNING)

    def complete(self, _set_status: bool = True) -> None:
        """Mark the run Completed (a second call is a no-op)."""
        self._end(RunStatus.COMPLETED)

    def fail(self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True) -> None:
        """Mark the run Failed, recording ``error_details`` (an exception, a message or a dict)."""
        self._end(RunStatus.FAILED, {"error": make_error_details(error_details, error_code)})

    def cancel(self) -> None:
        """Mark the run Canceled (a submitted script's whole process group is stopped first)."""
        if self.type == "script" and not self._finished:
            seams.terminate(self)
        self._end(RunStatus.CANCELED)

    def wait_for_completion(
        self, show_output: bool = False, wait_post_processing: bool = False, raise_on_error: bool = True
    ) -> dict[str, Any]:
        """Wait for a submitted run to end; with ``show_output`` stream its driver log (as Azure ML)."""
        return seams.wait_for_completion(
            self, show_output=show_output, wait_post_processing=wait_post_processing, raise_on_error=raise_on_error
        )

    def _repr_html_(self) -> str:
        return run_html(self)

    def flush(self, timeout_seconds: float = 300) -> None:
        """Make everything logged so far durable on disk (fsync).

        Values kept in memory while the store could not be written are written first; what is
        still waiting, or was lost, is reported (a WARNING on ``runlog.run``).
        """
        if self._pending is not None:
            self._pending.drain(force=True)
            self._report_pending("flush() could not write them")
        self._writer.sync()

    # -- children -----------------------------------------------------------------------

    def child_run(self, name: str | None = None, run_id: str | None = None, outputs: Any = None) -> Run:
        """Start a child run of this run (in the same experiment)."""
        child = Run._create(self.experiment, parent=self, display_name=name, run_id=run_id)
        child._owner_pid = os.getpid()
        child._outputs = Path(outputs).absolute() if outputs else None
        child._start_upload()
        return child

    def get_children(
        self,
        recursive: bool = False,
        tags: str | Mapping[str, str] | None = None,
        properties: str | Mapping[str, str] | None = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> Iterator[Run]:
        """The child runs of this run, oldest first (and their descendants with ``recursive``)."""
        runs_dir = self._dir.parent
        records = []
        for run_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
            record, _ = RunReader(run_dir).record_or_damage()  # a damaged record is no child of anyone
            if record:
                records.append({**record, "run_id": run_dir.name})
        by_parent: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            if record.get("parent_id"):
                by_parent.setdefault(record["parent_id"], []).append(record)
        pending = sorted(by_parent.get(self.id, []), key=lambda r: r.get("created") or 0.0)
        while pending:
            record = pending.pop(0)
            run = Run(self.experiment, record["run_id"])
            if recursive:
                pending.extend(sorted(by_parent.get(run.id, []), key=lambda r: r.get("created") or 0.0))
            if type is not None and run.type != type:
                continue
            if status is not None and run.get_status() != status:
                continue
            if _run_matches(run, tags, properties):
                yield run

    # -- context manager ---------------------------------------------------------------

    def __enter__(self) -> Run:
        self._context_tokens.append(_context.push(self))
        return self

    def __exit__(self, exc_type: builtins.type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._context_tokens:
            _context.pop(self._context_tokens.pop())
        if self._finished or self._ended_elsewhere():
            return
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.complete()
        elif isinstance(exc, KeyboardInterrupt):
            self.cancel()
        else:
            self.fail(error_details=exc)

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name},\nId: {self.id},\nType: {self.type},\nStatus: {self.get_status()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other._dir == self._dir

    def __hash__(self) -> int:
        return hash(self._dir)


def _hostname() -> str:
    return socket.gethostname()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _run_matches(run: Run, tags: str | Mapping[str, str] | None, properties: str | Mapping[str, str] | None) -> bool:
    """The tag/property filter of get_runs/get_children; reads the run's state only when filtering."""
    if tags is None and properties is None:
        return True
    state = run._state()
    return _matches(state.tags, tags) and _matches(state.properties, properties)


def _matches(have: Mapping[str, str], want: str | Mapping[str, str] | None) -> bool:
    if want is None:
        return True
    if isinstance(want, str):
        return want in have
    return all(k in have and (v is None or have[k] == str(v)) for k, v in want.items())
