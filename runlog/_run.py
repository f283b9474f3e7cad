"""Run: one training run, with the Azure ML SDK v1 run API on the local store."""

from __future__ import annotations

import builtins
import datetime as _dt
import getpass
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from . import _context, _sysmetrics
from ._errors import InvalidStatusTransition, RunFileNotFound, RunFinishedError, StoreError, did_you_mean
from ._metrics import (
    IMAGE,
    LIST,
    ROW,
    TABLE,
    MetricPoint,
    check_rank,
    columns_by_rank,
    encode_list,
    encode_row,
    encode_table,
    history,
    rank_columns,
    shape_metrics,
)
from ._pending import PendingWrites, strict_from_env
from ._store import RunReader, RunState, layout, writer_for
from ._store.writer import _encode_str
from ._validation import check_key, check_keys, check_mapping
from ._workspace import Experiment, Workspace, validate_experiment_name

__all__ = ["Run", "RunStatus"]

_log = logging.getLogger("runlog.run")
_offline_lock = threading.RLock()  # re-entrant: a logging handler may call get_context while a run is created


def _after_fork_in_child() -> None:
    global _offline_lock
    _offline_lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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


class Run:
    """A run of an experiment.

    ``Run(experiment, run_id)`` fetches an existing run; new runs come from
    ``experiment.start_logging()``, ``run.child_run()`` or ``Run.get_context()``.
    """

    def __init__(self, experiment: Experiment, run_id: str, outputs: Any = None, **kwargs: Any) -> None:
        if not isinstance(experiment, Experiment):
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
        self._sampler: _sysmetrics.SystemMetricsThread | None = None

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
            ws = Workspace.from_config()
            exp = Experiment(ws, _script_experiment_name())
            run = cls._start(exp, outputs="./outputs")
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

    # -- metrics ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._finished:
            status = self.get_status()
            raise RunFinishedError(
                f"run {self.id} is {status}: nothing more can be logged to it. Start a new run with "
                f"experiment.start_logging(), or log to a child run",
                run_id=self.id,
                status=status,
            )

    def _meta(self, kind: str, key: str | None, value: Any = None) -> None:
        # Only a running run started here keeps its meta file open; a fetched or ended one
        # (tagged after the fact, maybe one of thousands) opens and closes it per event.
        self._writer.meta(kind, key, value, keep_open=not self._finished and self._owner_pid == os.getpid())

    def _describe(self, name: str, description: str | None) -> None:
        # run.log(..., description=...) in a loop: one meta event per new text, not one per call.
        if description and self._writer.described.get(name) != description:
            self._meta("metric_description", name, str(description))
            self._writer.described[name] = description

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log one value of metric ``name`` (int, float, bool, str, None or a numpy scalar)."""
        if self._finished:
            self._check_open()
        pending = self._pending
        if pending is None or not len(pending):
            try:
                self._writer.scalar(name, value, step)
            except StoreError as exc:
                self._keep(exc, self._writer.scalar, (name, value, step), name)
        else:
            self._keep(None, self._writer.scalar, (name, value, step), name)
        if description:
            self._describe(name, description)

    def _metric(self, kind: str, name: str, value_json: str) -> None:
        pending = self._pending
        if pending is None or not len(pending):
            try:
                self._writer.metric(kind, name, value_json)
            except StoreError as exc:
                self._keep(exc, self._writer.metric, (kind, name, value_json), name)
        else:
            self._keep(None, self._writer.metric, (kind, name, value_json), name)

    def _keep(self, error: StoreError | None, write: Any, args: tuple[Any, ...], name: str) -> None:
        """A write the store did not take (``error``), or one queued behind such: kept in a bounded
        queue and written when the store recovers; in strict mode the error is raised instead."""
        if error is not None and self._strict:
            raise error
        pending = self._pending
        if pending is None:
            pending = self._pending = PendingWrites(self.id)
        pending.keep(write, args, str(name), time.time(), error)
        if error is None:
            pending.drain()

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        """Log a list of values (any iterable: list, tuple, range, generator, numpy array)."""
        self._check_open()
        self._metric(LIST, name, encode_list(name, value))
        self._describe(name, description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Append one row (column=value keywords) to table metric ``name``."""
        self._check_open()
        self._metric(ROW, name, encode_row(name, kwargs))
        self._describe(name, description)

    def log_table(self, name: str, value: Mapping[str, Iterable[Any]], description: str = "") -> None:
        """Log a table ``{column: [values]}``; all columns must have the same length."""
        self._check_open()
        self._metric(TABLE, name, encode_table(name, value))
        self._describe(name, description)

    def log_image(self, name: str, path: str | os.PathLike[str] | None = None, plot: Any = None, description: str = "") -> None:
        """Log an image from a file ``path`` or a ``plot`` (anything with ``savefig``, e.g. pyplot)."""
        self._check_open()
        check_key(name, call="run.log_image", what="metric name")
        if (path is None) == (plot is None):
            raise ValueError(
                f"log_image({name!r}) takes exactly one of path= (an image file) or plot= (a matplotlib "
                f"figure or pyplot); got {'both' if path is not None else 'neither'}"
            )
        stem = f"images/{layout.safe_file_stem(name)}_{int(time.time())}"
        if plot is not None:
            if not hasattr(plot, "savefig"):
                raise TypeError(f"plot= must have a savefig method (a matplotlib figure or pyplot); got {type(plot).__name__}")
            fd, tmp = tempfile.mkstemp(suffix=".png")
            os.close(fd)
            try:
                plot.savefig(tmp, format="png")
                stored = self._writer.add_file(self._free_name(stem, ".png"), tmp)
            finally:
                os.unlink(tmp)
        else:
            assert path is not None
            if not os.path.isfile(path):
                raise FileNotFoundError(f"log_image({name!r}, path={str(path)!r}): no such file; pass the path of an image file")
            stored = self._writer.add_file(self._free_name(stem, Path(path).suffix or ".png"), path)
        self._writer.metric(IMAGE, name, _encode_str(stored))
        self._describe(name, description)

    def _free_name(self, stem: str, suffix: str) -> str:
        candidate, n = f"{stem}{suffix}", 1
        while (self._dir / layout.FILES_DIR / candidate).exists():
            candidate, n = f"{stem}_{n}{suffix}", n + 1
        return candidate

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
        *,
        system: bool = False,
        rank: int | str | None = None,
    ) -> dict[str, Any]:
        """The run's metrics in Azure ML's shapes (see :func:`runlog._metrics.shape_metrics`).

        With ``recursive=True``: ``{run_id: metrics}`` over this run and its descendants.
        System metrics (``system/...``, sampled while the run runs) are left out unless
        ``system=True`` or ``name`` names one.

        ``rank`` (multi-process runs, see docs/script-runs.md): by default a name several ranks
        logged comes from the lowest rank (rank 0), as if only the chief logged it; ``rank=N``
        gives rank N's metrics only; ``rank="all"`` gives ``{rank: metrics}`` (``None``: processes
        that recorded no rank); ``rank="merged"`` every rank's values in one list, in time order.
        A single-process run's metrics are the same whatever the rank (0, None or "merged").
        """
        rank = check_rank(rank)
        if recursive:
            runs = [self, *self.get_children(recursive=True)]
            return {r.id: r.get_metrics(name, system=system, rank=rank) for r in runs if run_type is None or r.type == run_type}
        if rank == "all":
            shaped: dict[Any, Any] = {
                r: shape_metrics(columns, name, system=system) for r, columns in columns_by_rank(self._reader).items()
            }
            if shaped.get(None) == {}:  # only system metrics left out (a submitted run's supervisor): no group of the user's
                del shaped[None]
            return shaped
        return shape_metrics(rank_columns(self._reader, rank), name, system=system)

    def get_metric_history(self, name: str, *, rank: int | str | None = None) -> list[MetricPoint]:
        """Every value of a scalar or list metric with its step and time, in logged order.

        ``rank`` as for :meth:`get_metrics` (not ``"all"``: one history): by default the lowest
        rank's values of a name several ranks logged.
        """
        if rank == "all":
            raise ValueError("get_metric_history gives one series: pass rank=N for one rank's, or rank='merged'")
        return history(rank_columns(self._reader, rank), name)

    # -- files ------------------------------------------------------------------------

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[bytes] | IO[str], datastore_name: str | None = None) -> str:
        """Copy a file (a path or an open stream) into the run as ``name``; returns the stored name."""
        return self._writer.add_file(name, path_or_stream)

    def upload_files(self, names: list[str], paths: list[str], return_artifacts: bool = False, timeout_seconds: float | None = None, datastore_name: str | None = None) -> list[str]:
        if len(names) != len(paths):
            raise ValueError(f"upload_files needs as many names as paths; got {len(names)} names and {len(paths)} paths")
        return [self._writer.add_file(n, p) for n, p in zip(names, paths)]

    def upload_folder(self, name: str, path: str | os.PathLike[str], datastore_name: str | None = None) -> list[str]:
        """Copy every file under folder ``path`` into the run under ``name/``."""
        root = Path(path)
        if not root.is_dir():
            raise NotADirectoryError(f"upload_folder({name!r}, {str(path)!r}): not a folder; use upload_file for one file")
        prefix = layout.check_file_name(name)
        pairs = [(f"{prefix}/{file.relative_to(root).as_posix()}", file) for file in sorted(p for p in root.rglob("*") if p.is_file())]
        for stored_name, _ in pairs:  # every name checked first: a refused one leaves nothing half-copied
            self._writer.check_upload_name(stored_name)
        return [self._writer.add_file(n, file) for n, file in pairs]

    def get_file_names(self) -> list[str]:
        return self._reader.file_names()

    def _file(self, name: str) -> Path:
        path = self._reader.file_path(name)
        if not path.is_file():
            names = self.get_file_names()
            hint = did_you_mean(name, names, f" The run has: {', '.join(names[:10]) or 'no files'}.")
            raise RunFileNotFound(f"run {self.id} has no file {name!r}.{hint}", run_id=self.id, name=name)
        return path

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None, _validate_checksum: bool = False) -> str:
        """Copy run file ``name`` to ``output_file_path`` (a file or a folder; default: the current folder)."""
        source = self._file(name)
        target = Path(output_file_path) if output_file_path is not None else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return str(target)

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | os.PathLike[str] | None = None,
        output_paths: list[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: float | None = None,
    ) -> list[str]:
        """Copy the run's files (those starting with ``prefix``) under ``output_directory``."""
        names = [n for n in self.get_file_names() if prefix is None or n.startswith(prefix)]
        out = Path(output_directory or ".")
        if output_paths is not None and len(output_paths) != len(names):
            raise ValueError(f"output_paths has {len(output_paths)} entries for {len(names)} files")
        written = []
        for i, n in enumerate(names):
            if output_paths is not None:
                target = Path(output_paths[i])
            elif append_prefix or not prefix:
                target = out / n
            else:
                target = out / n[len(prefix) :].lstrip("/")
            written.append(self.download_file(n, target))
        return written

    def get_all_logs(self, destination: str | os.PathLike[str] | None = None) -> list[str]:
        """Download every log file of the run into ``destination``; returns their paths."""
        return self.download_files(prefix=layout.LOGS_PREFIX, output_directory=destination or ".")

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
            from ._upload import remote_run_id

            details["mlflowRunId"] = remote_run_id(self, wait=0)
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

    # -- system metrics (runlog._sysmetrics) --------------------------------------------------

    def _start_system_metrics(
        self, enabled: bool | None, roots: Callable[[], Iterable[int]], environ: Mapping[str, str] | None = None
    ) -> None:
        """Sample system metrics in a daemon thread until the run ends (unless switched off).

        ``roots``: the pids whose process trees are the run's processes; ``environ``: where
        ``RUNLOG_SYSTEM_METRICS*`` are read (default ``os.environ``).
        """
        if self._sampler is not None or not _sysmetrics.enabled(enabled, environ):
            return
        self._sampler = _sysmetrics.SystemMetricsThread(
            self._writer,
            roots,
            created=float(self._record.get("created") or time.time()),
            interval=_sysmetrics.interval(environ),
            name=f"runlog-system-metrics-{self.id}",
        ).start()
        _log.debug("run %s: sampling system metrics every %g s", self.id, self._sampler.interval)

    def _stop_system_metrics(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.stop()

    # -- upload to a tracking server (runlog._upload) -------------------------------------

    def _start_upload(self) -> None:
        if self.experiment.workspace.tracking_uri:
            from ._upload import attach

            attach(self)

    def _finish_upload(self) -> None:
        if self.experiment.workspace.tracking_uri:
            from ._upload import finish

            finish(self)

    @property
    def mlflow_run_id(self) -> str | None:
        """The id of this run's MLflow run on the workspace's tracking server (None until it exists).

        Log into the same remote run with any MLflow client, e.g.
        ``mlflow.start_run(run_id=run.mlflow_run_id)`` after
        ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())``.
        """
        from ._upload import remote_run_id

        return remote_run_id(self)

    def get_remote_metrics(self, name: str | None = None) -> dict[str, list[MetricPoint]]:
        """The metric histories of this run's MLflow run, read back from the tracking server.

        ``{key: [MetricPoint(value, step, time), ...]}`` in the server's order; this includes
        points other MLflow clients logged into the same remote run.
        """
        from ._upload import remote_metrics

        return remote_metrics(self, name)

    def _collect_outputs(self) -> None:
        outputs = self._outputs
        if outputs is None or not outputs.is_dir():
            return
        for file in sorted(p for p in outputs.rglob("*") if p.is_file()):
            try:
                self._writer.add_file(f"outputs/{file.relative_to(outputs).as_posix()}", file)
            except OSError as exc:
                _log.warning("could not keep output file %s in run %s: %s", file, self.id, exc)

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
            from ._submit import terminate_run_processes

            terminate_run_processes(self)
        self._end(RunStatus.CANCELED)

    def wait_for_completion(
        self, show_output: bool = False, wait_post_processing: bool = False, raise_on_error: bool = True
    ) -> dict[str, Any]:
        """Wait for a submitted run to end; with ``show_output`` stream its driver log (as Azure ML)."""
        from ._submit import wait_for_completion

        return wait_for_completion(
            self, show_output=show_output, wait_post_processing=wait_post_processing, raise_on_error=raise_on_error
        )

    def _repr_html_(self) -> str:
        from ._html import run_html

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
        from ._workspace import _run_matches

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


def _script_experiment_name() -> str:
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    stem = Path(script).stem if script else "interactive"
    name = re.sub(r"[^\w\-]+", "-", stem).strip("-_") or "default"
    try:
        validate_experiment_name(name)
    except ValueError:
        name = "default"
    return name


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
