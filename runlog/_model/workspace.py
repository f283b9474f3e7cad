"""Workspace (a handle on a store) and Experiment (a named group of runs)."""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._errors import (
    ExperimentNotFound,
    InvalidArgumentError,
    InvalidExperimentName,
    RunNotFound,
    StoreError,
    did_you_mean,
)
from .._store import layout
from .._store.mlflow_names import experiment_id, tracking_uri
from .._store.search import runs_by_created
from .._store.validation import check_kwargs
from .context import ENV_STORE
from .hooks import seams
from .html import experiment_html
from .run import Run, _matches, _run_matches

__all__ = ["DEFAULT_STORE", "Experiment", "Workspace"]

_log = logging.getLogger("runlog.store")

DEFAULT_STORE = "runlog-store"
CONFIG_NAMES = (".runlog/config.json", "runlog.json")
_EXPERIMENT_NAME = re.compile(r"^[a-zA-Z0-9][\w\-]{0,254}$")


class Workspace:
    """A handle on a local runlog store.

    ``Workspace()`` opens ``$RUNLOG_STORE`` if set, else ``./runlog-store``;
    ``Workspace(store=path)`` opens ``path``. The folder is created on first use.
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        tracking_uri: str | None = None,
    ) -> None:
        location = store if store is not None else os.environ.get(ENV_STORE) or DEFAULT_STORE
        self.store = Path(location).expanduser().absolute()
        self._name = name
        self.tracking_uri = tracking_uri or _tracking_uri_from_env()
        self._ensure()

    def get_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI of this store, ``runlog:///abs/path`` (as Azure ML's): no server needed.

        Hand it to any MLflow client (``mlflow.set_tracking_uri``, Lightning's ``MLFlowLogger``,
        ``MLFLOW_TRACKING_URI``) and what it logs lands in this store's runs, with runlog's run ids
        (``pip install 'runlog[mlflow]'``). A tracking server the runs are uploaded to is
        :meth:`get_upload_tracking_uri`.
        """
        return tracking_uri(self.store)

    def get_upload_tracking_uri(self) -> str:
        """The MLflow tracking server (or OTLP endpoint) runs of this workspace are uploaded to.

        ``Workspace(tracking_uri=...)``, else ``RUNLOG_TRACKING_URI``, else an http(s)
        ``MLFLOW_TRACKING_URI``. Log into a run's remote copy with ``run.mlflow_run_id``.
        """
        if not self.tracking_uri:
            raise ValueError(
                "this workspace uploads nowhere: pass Workspace(tracking_uri='http://host:5000') "
                "or set RUNLOG_TRACKING_URI (or MLFLOW_TRACKING_URI) to the URL of an MLflow tracking server"
            )
        return self.tracking_uri

    def _ensure(self) -> None:
        record = self.store / layout.STORE_RECORD
        if record.is_file():
            try:
                data = layout.read_json(record)
                version = data.get("format")
            except (OSError, ValueError, AttributeError):
                return  # unreadable: the store's runs are still read one by one
            if isinstance(version, int) and version < layout.FORMAT_VERSION:
                # Runs of this format will be written into it: say so, so that a runlog that knows
                # only the older format refuses the store (as this one refuses a newer one).
                try:
                    layout.write_json_atomic(record, {**data, "format": layout.FORMAT_VERSION})
                except OSError:
                    pass  # a read-only store: nothing will be written into it either
                return
            if isinstance(version, int) and version > layout.FORMAT_VERSION:
                raise StoreError(
                    f"the store {self.store} was written by a newer runlog (store format {version}; this runlog reads "
                    f"formats 1 to {layout.FORMAT_VERSION}): upgrade runlog (pip install -U runlog) to use it"
                )
            return
        try:
            (self.store / layout.EXPERIMENTS_DIR).mkdir(parents=True, exist_ok=True)
            if not record.exists():
                layout.write_json_atomic(
                    record, {"format": layout.FORMAT_VERSION, "name": self._name or self.store.name}
                )
                _log.debug("created store %s", self.store)
        except OSError as exc:
            raise StoreError(
                f"cannot create the runlog store at {self.store} ({exc.strerror}); pass "
                f"Workspace(store=...) or set RUNLOG_STORE to a writable folder"
            ) from exc

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, _file_name: str | None = None) -> Workspace:
        """Open the store named by a config file, else the default store.

        ``path`` is an existing config file or folder to start from (default: the current
        folder, then its parents). A config file is ``.runlog/config.json`` or
        ``runlog.json`` holding ``{"store": "<folder>", "name": "...", "tracking_uri": "..."}``;
        a relative ``store`` is relative to the config file. ``RUNLOG_STORE`` overrides it.
        """
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(
                f"Workspace.from_config({str(path)!r}): no such file or folder. Pass a runlog config file "
                f"(.runlog/config.json or runlog.json), the folder holding one, or no path to search from the "
                f"current folder up"
            )
        config_file = _find_config(Path(path) if path is not None else None, _file_name)
        config: dict[str, Any] = {}
        if config_file is not None:
            try:
                config = layout.read_json(config_file)
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"cannot read the runlog config file {config_file}: {exc}. It must be JSON such as "
                    f'{{"store": "runlog-store"}}'
                ) from exc
            if not isinstance(config, dict):
                raise ValueError(f"the runlog config file {config_file} must hold a JSON object, like {{\"store\": \"runlog-store\"}}")
            _log.debug("read workspace config %s", config_file)
        store: str | Path | None = os.environ.get(ENV_STORE) or None
        if store is None and config.get("store"):
            assert config_file is not None
            base = config_file.parent.parent if config_file.parent.name == ".runlog" else config_file.parent
            store = base / str(config["store"])
        elif store is None and config_file is not None:
            base = config_file.parent.parent if config_file.parent.name == ".runlog" else config_file.parent
            store = base / DEFAULT_STORE
        return cls(store, name=config.get("name"), tracking_uri=config.get("tracking_uri"))

    @classmethod
    def get(cls, name: str | None = None, **kwargs: Any) -> Workspace:
        """Azure's ``Workspace.get``: here the store named by ``store=`` or the default one."""
        return cls(kwargs.get("store"), name=name)

    def write_config(self, path: str | os.PathLike[str] | None = None, file_name: str | None = None) -> Path:
        target = Path(path or ".") / (file_name or CONFIG_NAMES[0])
        layout.write_json_atomic(target, {"store": str(self.store), "name": self.name})
        return target

    @property
    def name(self) -> str:
        if self._name:
            return self._name
        try:
            return str(layout.read_json(self.store / layout.STORE_RECORD).get("name") or self.store.name)
        except (OSError, ValueError):
            return self.store.name

    @property
    def experiments(self) -> dict[str, Experiment]:
        """Every experiment of the store, by name."""
        root = self.store / layout.EXPERIMENTS_DIR
        try:
            names = sorted(p.name for p in root.iterdir() if (p / layout.EXPERIMENT_RECORD).is_file())
        except FileNotFoundError:
            names = []
        return {n: Experiment(self, n, _skip_name_validation=True) for n in names}

    def get_run(self, run_id: str) -> Run:
        return Run(Experiment(self, self.find_run_experiment(run_id), _skip_name_validation=True), run_id)

    def find_run_experiment(self, run_id: str) -> str:
        """The name of the experiment holding ``run_id``; RunNotFound with suggestions if none."""
        found = layout.find_run_dir(self.store, run_id)
        if found is None:
            raise self._run_not_found(run_id)
        return found.parent.parent.name

    def all_run_ids(self) -> list[str]:
        root = self.store / layout.EXPERIMENTS_DIR
        return [name for e in _subdirs(root) for name in _folder_names(e / layout.RUNS_DIR)]

    def _run_not_found(self, run_id: str, experiment: str | None = None) -> RunNotFound:
        ids = self.all_run_ids()
        suggestions = difflib.get_close_matches(str(run_id), ids, n=3, cutoff=0.5)
        if not suggestions:
            suggestions = [i for i in ids if str(run_id) and str(run_id) in i][:3]
        where = f"experiment {experiment!r} of " if experiment else ""
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else " List runs with `runlog runs`."
        return RunNotFound(
            f"no run {run_id!r} in {where}the store {self.store}.{hint}", run_id=str(run_id), suggestions=suggestions
        )

    def __repr__(self) -> str:
        return f"Workspace.create(name='{self.name}', store='{self.store}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.store == self.store

    def __hash__(self) -> int:
        return hash(self.store)


def _tracking_uri_from_env() -> str | None:
    """``RUNLOG_TRACKING_URI``, else ``MLFLOW_TRACKING_URI`` when it names a server (http/https)."""
    uri = os.environ.get("RUNLOG_TRACKING_URI", "").strip()
    if uri:
        return uri
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return uri if uri.startswith(("http://", "https://")) else None


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _folder_names(path: Path) -> list[str]:
    """The names of the folders in ``path``, sorted, from the directory entries' types (no ``stat`` each:
    a runs folder may hold 100,000)."""
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _find_config(path: Path | None, file_name: str | None) -> Path | None:
    names = (file_name,) if file_name else CONFIG_NAMES
    if path is not None and path.is_file():
        return path
    start = (path or Path.cwd()).absolute()
    for folder in (start, *start.parents):
        for n in names:
            candidate = folder / n
            if candidate.is_file():
                return candidate
        if path is not None:  # an explicit folder is searched, not its parents
            break
    return None


class Experiment:
    """A named group of runs in a workspace (get-or-create, as Azure ML's ``Experiment``)."""

    def __init__(self, workspace: Workspace, name: str, _skip_name_validation: bool = False, **kwargs: Any) -> None:
        if not isinstance(workspace, Workspace):
            raise TypeError(
                f"Experiment(workspace, name) takes a runlog Workspace first; got {type(workspace).__name__}. "
                f"Use Experiment(Workspace.from_config(), {name!r})"
            )
        if not _skip_name_validation:
            validate_experiment_name(name)
        self.workspace = workspace
        self.name = name
        self._dir = layout.experiment_dir(workspace.store, name)
        record = self._dir / layout.EXPERIMENT_RECORD
        if not record.is_file():
            layout.write_json_atomic(
                record,
                {"name": name, "id": experiment_id(name), "created": time.time()},
            )
            _log.debug("created experiment %s in %s", name, workspace.store)

    @property
    def id(self) -> str:
        return experiment_id(self.name)  # the id MLflow clients see too ("0" for Default)

    @property
    def path(self) -> Path:
        return self._dir

    @staticmethod
    def list(workspace: Workspace, experiment_name: str | None = None, **kwargs: Any) -> list[Experiment]:
        found = list(workspace.experiments.values())
        return [e for e in found if experiment_name is None or e.name == experiment_name]

    @classmethod
    def from_name(cls, workspace: Workspace, name: str) -> Experiment:
        """An existing experiment; ExperimentNotFound (with close names) if there is none."""
        if not (layout.experiment_dir(workspace.store, name) / layout.EXPERIMENT_RECORD).is_file():
            names = list(workspace.experiments)
            hint = did_you_mean(name, names, f" Known: {', '.join(names) or 'none yet'}.")
            raise ExperimentNotFound(f"no experiment {name!r} in {workspace.store}.{hint}", name=name)
        return cls(workspace, name, _skip_name_validation=True)

    def start_logging(self, *args: Any, **kwargs: Any) -> Run:
        """Start a run of this experiment in this process and make it the active run.

        Keyword arguments as Azure ML: ``outputs`` (a folder whose files become part of
        the run when it ends; default ``./outputs``, ``False`` for none),
        ``snapshot_directory`` (accepted, not copied), ``display_name``;
        ``log_system_metrics`` (as MLflow's ``start_run``): ``False`` to sample no system
        metrics for this run (default: ``RUNLOG_SYSTEM_METRICS``, on); and ``strict``: raise
        ``StoreError`` at once when the store cannot be written (default: ``RUNLOG_STRICT``; else
        values are kept in memory until it can, see ``docs/reliability.md``).
        """
        if len(args) > 2:  # as Azure ML: (outputs, snapshot_directory) may be given by position
            raise InvalidArgumentError(
                f"start_logging takes at most 2 positional arguments (outputs, snapshot_directory); got {len(args)}. "
                f"Pass display_name= by keyword",
                argument="args",
            )
        for key, value in zip(("outputs", "snapshot_directory"), args):
            if key in kwargs:
                raise InvalidArgumentError(f"start_logging got {key} both by position and by keyword", argument=key)
            kwargs[key] = value
        check_kwargs(
            kwargs,
            ("outputs", "snapshot_directory", "display_name", "log_system_metrics", "strict"),
            call="experiment.start_logging",
        )
        return Run._start(
            self,
            display_name=kwargs.get("display_name"),
            outputs=kwargs.get("outputs", "./outputs"),
            run_type="local",
            system_metrics=kwargs.get("log_system_metrics"),
            strict=kwargs.get("strict"),
        )

    def submit(self, config: Any, tags: Mapping[str, str] | None = None, **kwargs: Any) -> Run:
        """Start a ``ScriptRunConfig`` as a run of this experiment in a child process; returns at once."""
        return seams.submit(self, config, tags=tags, **kwargs)

    def _repr_html_(self) -> str:
        return experiment_html(self)

    def get_runs(
        self,
        type: str | None = None,
        tags: str | Mapping[str, str] | None = None,
        properties: str | Mapping[str, str] | None = None,
        include_children: bool = False,
    ) -> Iterator[Run]:
        """The runs of this experiment, newest first (top-level only unless ``include_children``).

        Answered from the run index (:func:`runlog._store.search.runs_by_created`: runs unchanged since they
        were indexed are not read again), a page of runs at a time as the generator is consumed.
        """
        for row in runs_by_created(
            self.workspace.store, self.name, include_children=include_children, run_type=type, page_size=GET_RUNS_PAGE
        ):
            if _row_matches(row, tags, properties):
                yield Run(self, row.run_id)
            elif _needs_state(row, tags, properties):
                run = Run(self, row.run_id)
                if _run_matches(run, tags, properties):
                    yield run

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name},\nWorkspace: {self.workspace.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Experiment) and other.workspace == self.workspace and other.name == self.name

    def __hash__(self) -> int:
        return hash((self.workspace, self.name))


# How many runs Experiment.get_runs makes at a time.
GET_RUNS_PAGE = 500
# Tags a search row adds for MLflow clients when the run has none of that name.
_ROW_TAGS = frozenset({"mlflow.runName", "mlflow.parentRunId"})


def _row_matches(row: Any, tags: str | Mapping[str, str] | None, properties: str | Mapping[str, str] | None) -> bool:
    """The tag/property filter of get_runs on a run's search row (its tags and properties as indexed)."""
    if tags is None and properties is None:
        return True
    own = {k: v for k, v in row.tags.items() if k not in _ROW_TAGS}
    return _matches(own, tags) and _matches(row.params, properties)


def _needs_state(row: Any, tags: str | Mapping[str, str] | None, properties: str | Mapping[str, str] | None) -> bool:
    """Whether a row that did not match must be checked against the run itself: a run whose row could
    not be read, or a filter on a tag the row may hold in MLflow's form only (the run's own tag of that
    name is not told apart in the row)."""
    if row.status == "Damaged":
        return tags is not None or properties is not None
    if tags is None:
        return False
    keys = {tags} if isinstance(tags, str) else set(tags)
    return bool(keys & _ROW_TAGS)


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


def validate_experiment_name(name: Any) -> None:
    if not isinstance(name, str) or not _EXPERIMENT_NAME.fullmatch(name):
        got = f"{name!r}" if isinstance(name, str) else f"a {type(name).__name__}"
        suggestion = re.sub(r"[^\w\-]+", "-", name).strip("-_")[:255] if isinstance(name, str) else ""
        fix = f" Try {suggestion!r}." if suggestion and _EXPERIMENT_NAME.fullmatch(suggestion) else ""
        raise InvalidExperimentName(
            "an experiment name must start with a letter or digit and contain only letters, digits, "
            f"'_' and '-' (at most 255 characters, no spaces); got {got}.{fix}",
            name=str(name),
        )


def offline_run() -> Run:
    """A new local run for ``Run.get_context()`` outside any run: in ``Workspace.from_config()``'s store,
    in an experiment named after the script, completed when the interpreter exits."""
    return Run._start(Experiment(Workspace.from_config(), _script_experiment_name()), outputs="./outputs")
