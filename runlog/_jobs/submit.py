"""Script runs: ``ScriptRunConfig``, ``Environment`` and ``experiment.submit()``, run locally.

``experiment.submit(ScriptRunConfig(...))`` snapshots the source directory into
the run (``snapshot/``) and into a fresh working copy, starts a detached
supervisor process (``python -m runlog._jobs.supervisor``, its own session) and
returns at once. The supervisor starts the script (or N ranks), captures their
stdout/stderr into the driver logs, and ends the run. See ``docs/script-runs.md``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._capture.driverlog import driver_log_name_for
from .._errors import UnsupportedConfigurationError
from .._model.run import Run
from .._model.status import RunStatus, _new_run_id, validate_run_id
from .._store import layout
from . import snapshot as _snapshot
from .stream import wait_for_completion

if TYPE_CHECKING:
    from .._model.workspace import Experiment

__all__ = [
    "DockerSection",
    "Environment",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "PythonSection",
    "RunConfiguration",
    "ScriptRunConfig",
    "TensorflowConfiguration",
    "rank_log_name",
    "submit",
]

_log = logging.getLogger("runlog.submit")

SUPERVISOR_LOG = "logs/supervisor_log.txt"
PROCESS_STATUS = "logs/process_status.json"
ENV_SOURCE_DIRECTORY = "RUNLOG_SOURCE_DIRECTORY"


def rank_log_name(rank: int | None, world_size: int) -> str:
    """The driver log of a process the supervisor starts: its output is captured, so it is a main process."""
    return driver_log_name_for(rank, world_size, main=True, pid=os.getpid())


# -- environments ---------------------------------------------------------------------------

_CONDA_HINT = (
    "runlog runs scripts locally with an interpreter that already exists; it does not build conda "
    "environments. Create the environment yourself (e.g. `conda env create -f environment.yml`), then point "
    "the Environment at its interpreter: env.python.user_managed_dependencies = True; "
    "env.python.interpreter_path = '/path/to/envs/<name>/bin/python'"
)
_DOCKER_HINT = (
    "runlog does not run scripts in Docker containers. Run runlog inside the container instead "
    "(e.g. `docker run -v $PWD:/work -w /work IMAGE runlog submit train.py --experiment NAME`, with the "
    "store on a mounted folder), and leave environment.docker.enabled False"
)


class PythonSection:
    """Which Python runs the script (as Azure ML's ``PythonSection``).

    ``interpreter_path``: default ``None``, the interpreter running ``submit``
    (Azure's default ``"python"`` would pick whatever is first on PATH).
    ``user_managed_dependencies`` is accepted; runlog never installs packages.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.user_managed_dependencies: bool = bool(kwargs.pop("user_managed_dependencies", False))
        self.interpreter_path: str | None = kwargs.pop("interpreter_path", None)
        self.conda_dependencies: Any = kwargs.pop("conda_dependencies", None)
        self.conda_dependencies_file: str | None = kwargs.pop("conda_dependencies_file", None)
        self.base_conda_environment: str | None = kwargs.pop("base_conda_environment", None)
        if kwargs:
            raise TypeError(f"PythonSection() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")


class DockerSection:
    """Accepted so that Azure code runs; ``enabled=True`` or an image is refused at submit."""

    def __init__(self, **kwargs: Any) -> None:
        self.enabled: bool = bool(kwargs.pop("enabled", False))
        self.base_image: str | None = kwargs.pop("base_image", None)
        self.base_dockerfile: str | None = kwargs.pop("base_dockerfile", None)
        self.shm_size: str | None = kwargs.pop("shm_size", None)
        self.arguments: list[str] = list(kwargs.pop("arguments", []))
        if kwargs:
            raise TypeError(f"DockerSection() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")


class Environment:
    """The interpreter and environment variables of a script run (Azure ML's ``Environment``).

    ``Environment(name)``; ``env.python.interpreter_path`` (default: the current
    interpreter); ``env.environment_variables`` (a dict added to the script's
    environment). Conda and Docker environments are out of scope: they raise
    :class:`runlog.UnsupportedConfigurationError` saying what to do instead.
    """

    def __init__(self, name: str, **kwargs: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Environment(name) needs a non-empty name such as 'user-managed-env'; got {name!r}")
        self.name = name
        self.version: str | None = kwargs.pop("version", None)
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = dict(kwargs.pop("environment_variables", None) or {})
        self.inferencing_stack_version: str | None = kwargs.pop("inferencing_stack_version", None)
        self.r: Any = None
        self.spark: Any = None

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, interpreter={self.python.interpreter_path or sys.executable!r})"

    # Azure's factories that need a package manager or a container: out of scope, said clearly.
    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        raise UnsupportedConfigurationError(f"Environment.from_conda_specification({name!r}, {file_path!r}): {_CONDA_HINT}")

    @staticmethod
    def from_existing_conda_environment(name: str, conda_environment_name: str) -> Environment:
        raise UnsupportedConfigurationError(
            f"Environment.from_existing_conda_environment({name!r}, {conda_environment_name!r}): pass the "
            f"environment's interpreter instead: env = Environment({name!r}); "
            f"env.python.user_managed_dependencies = True; env.python.interpreter_path = "
            f"'/path/to/envs/{conda_environment_name}/bin/python'"
        )

    @staticmethod
    def from_pip_requirements(name: str, file_path: str, pip_version: str | None = None) -> Environment:
        raise UnsupportedConfigurationError(
            f"Environment.from_pip_requirements({name!r}, {file_path!r}): runlog does not install packages. "
            f"Create a virtual environment (`python -m venv .venv && .venv/bin/pip install -r {file_path}`) and set "
            f"env.python.interpreter_path to its python"
        )

    @staticmethod
    def from_docker_image(name: str, image: str, **kwargs: Any) -> Environment:
        raise UnsupportedConfigurationError(f"Environment.from_docker_image({name!r}, {image!r}): {_DOCKER_HINT}")

    @staticmethod
    def from_dockerfile(name: str, dockerfile: str, **kwargs: Any) -> Environment:
        raise UnsupportedConfigurationError(f"Environment.from_dockerfile({name!r}, ...): {_DOCKER_HINT}")

    def register(self, workspace: Any) -> Environment:
        """Nothing to register locally: returns the environment itself."""
        return self

    def _interpreter(self) -> str:
        if self.docker.enabled or self.docker.base_image or self.docker.base_dockerfile:
            raise UnsupportedConfigurationError(f"environment {self.name!r} asks for Docker: {_DOCKER_HINT}")
        if self.python.conda_dependencies is not None or self.python.conda_dependencies_file:
            if not self.python.user_managed_dependencies:
                raise UnsupportedConfigurationError(f"environment {self.name!r} has conda dependencies: {_CONDA_HINT}")
        path = self.python.interpreter_path
        if not path:
            return sys.executable

        found = shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
        if not found:
            raise FileNotFoundError(
                f"environment {self.name!r}: python.interpreter_path={path!r} is not an executable; pass the full "
                f"path of a Python interpreter, or leave it None to use {sys.executable}"
            )
        return found


# -- distributed job configurations -------------------------------------------------------------


class PyTorchConfiguration:
    """N processes on this machine with torchrun's variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ...)."""

    def __init__(self, communication_backend: str = "Nccl", process_count: int | None = None, node_count: int = 1) -> None:
        self.communication_backend = communication_backend
        self.process_count = process_count
        self.node_count = node_count

    def _world_size(self) -> int:
        _single_node(type(self).__name__, self.node_count)
        return _positive("process_count", self.process_count if self.process_count is not None else self.node_count)


class MpiConfiguration:
    """``process_count_per_node`` processes with torchrun's and Open MPI's rank variables (no mpirun)."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count

    def _world_size(self) -> int:
        _single_node(type(self).__name__, self.node_count)
        return _positive("process_count_per_node", self.process_count_per_node)


class TensorflowConfiguration:
    """``worker_count`` worker processes (parameter servers are not started)."""

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count

    def _world_size(self) -> int:
        return _positive("worker_count", self.worker_count)


def _single_node(kind: str, node_count: Any) -> None:
    if node_count != 1:
        raise UnsupportedConfigurationError(
            f"{kind}(node_count={node_count!r}): runlog runs every process on this machine; use node_count=1 and "
            f"set the process count instead"
        )


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    return value


# -- RunConfiguration and ScriptRunConfig --------------------------------------------------------


class RunConfiguration:
    """The parts of Azure ML's ``RunConfiguration`` that mean something locally.

    ``environment``, ``environment_variables`` (added to the environment's),
    ``target`` (``"local"`` only) and ``node_count`` (1 only).
    """

    def __init__(self, script: str | None = None, arguments: Sequence[Any] | None = None, framework: str | None = None, **kwargs: Any) -> None:
        self.script = script
        self.arguments = list(arguments or [])
        self.framework = framework or "Python"
        self.target: Any = kwargs.pop("target", "local")
        self.node_count: int = kwargs.pop("node_count", 1)
        self.environment: Environment = kwargs.pop("environment", None) or Environment("runlog-default")
        self.environment_variables: dict[str, str] = dict(kwargs.pop("environment_variables", None) or {})
        self.max_run_duration_seconds: int | None = kwargs.pop("max_run_duration_seconds", None)



class ScriptRunConfig:
    """What to run: a script (or a command) in a source directory, with an environment.

    Same arguments as Azure ML's ``ScriptRunConfig``. ``compute_target`` may be
    ``None`` or ``"local"``; ``resume_from`` and ``docker_runtime_config`` are
    out of scope. ``max_run_duration_seconds`` cancels a run that runs longer.
    """

    def __init__(
        self,
        source_directory: str | os.PathLike[str],
        script: str | None = None,
        arguments: Sequence[Any] | str | None = None,
        run_config: Any = None,
        _telemetry_values: Any = None,
        compute_target: Any = None,
        environment: Environment | None = None,
        distributed_job_config: PyTorchConfiguration | MpiConfiguration | TensorflowConfiguration | None = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = 2592000,
        command: Sequence[Any] | str | None = None,
        docker_runtime_config: Any = None,
    ) -> None:
        if script is None and command is None:
            raise ValueError("ScriptRunConfig needs script= (a file in source_directory) or command= (a command line)")
        if command is not None and (script is not None or arguments):
            raise ValueError(
                "ScriptRunConfig takes either script=/arguments= or command=, not both; to run a script with "
                "command= write command=['python', 'train.py', '--arg', value]"
            )
        if compute_target not in (None, "local") and getattr(compute_target, "name", None) != "local":
            raise UnsupportedConfigurationError(
                f"compute_target={compute_target!r}: runlog runs scripts on this machine only; leave compute_target "
                f"None (or 'local')"
            )
        if resume_from is not None:
            raise UnsupportedConfigurationError(
                "resume_from= is not supported: pass the checkpoint path to your script in arguments= instead"
            )
        if docker_runtime_config is not None:
            raise UnsupportedConfigurationError(f"docker_runtime_config= is not supported: {_DOCKER_HINT}")
        if run_config is not None and not isinstance(run_config, RunConfiguration):
            raise TypeError(f"run_config= must be a runlog RunConfiguration; got {type(run_config).__name__}")
        if environment is None and run_config is not None:
            environment = run_config.environment
        if environment is not None and not isinstance(environment, Environment):
            raise TypeError(f"environment= must be a runlog Environment; got {type(environment).__name__}")
        self.source_directory = str(source_directory)
        self.script = script
        self.arguments: list[str] = (
            shlex.split(arguments) if isinstance(arguments, str) else [str(a) for a in (arguments or [])]
        )
        self.command: list[str] | str | None = (
            command if isinstance(command, str) or command is None else [str(c) for c in command]
        )
        self.run_config = run_config if run_config is not None else RunConfiguration()
        self.compute_target = compute_target
        self.run_config.environment = environment if environment is not None else self.run_config.environment
        self.distributed_job_config = distributed_job_config
        self.max_run_duration_seconds = max_run_duration_seconds

    @property
    def environment(self) -> Environment:
        """The environment of the run (the same object as ``run_config.environment``)."""
        return self.run_config.environment

    @environment.setter
    def environment(self, value: Environment) -> None:
        if not isinstance(value, Environment):
            raise TypeError(f"environment must be a runlog Environment; got {type(value).__name__}")
        self.run_config.environment = value

    def _check_target(self) -> None:
        target = self.compute_target if self.compute_target is not None else self.run_config.target
        if target not in (None, "local") and getattr(target, "name", None) != "local":
            raise UnsupportedConfigurationError(
                f"compute target {target!r}: runlog runs scripts on this machine only; leave compute_target None "
                f"(or 'local')"
            )
        _single_node("RunConfiguration", self.run_config.node_count)

    def _environment_variables(self) -> dict[str, str]:
        merged = {**self.environment.environment_variables, **self.run_config.environment_variables}
        return {str(k): str(v) for k, v in merged.items()}

    def __repr__(self) -> str:
        what = f"script={self.script!r}, arguments={self.arguments!r}" if self.script else f"command={self.command!r}"
        return f"ScriptRunConfig(source_directory={self.source_directory!r}, {what})"

    def _world_size(self) -> int | None:
        config = self.distributed_job_config
        if config is None:
            return None
        if not hasattr(config, "_world_size"):
            raise TypeError(
                f"distributed_job_config must be a PyTorchConfiguration, MpiConfiguration or TensorflowConfiguration; "
                f"got {type(config).__name__}"
            )
        return int(config._world_size())

    def _argv(self, interpreter: str, source: Path) -> list[str]:
        if self.command is not None:
            if isinstance(self.command, str):
                return ["/bin/sh", "-c", self.command]
            return list(self.command)
        assert self.script is not None
        script = Path(self.script)
        if script.is_absolute():
            try:
                script = script.resolve().relative_to(source.resolve())
            except ValueError:
                raise ValueError(
                    f"script={self.script!r} is not inside source_directory={self.source_directory!r}; the script "
                    f"must be part of the source directory that is snapshotted"
                ) from None
        if not (source / script).is_file():
            raise FileNotFoundError(
                f"script={self.script!r} not found in source_directory={str(source)!r}; give the script's path "
                f"relative to the source directory"
            )
        return [interpreter, "-u", script.as_posix(), *self.arguments]


# -- submit -------------------------------------------------------------------------------------

# `python -m runlog._jobs.supervisor`, importing this very runlog even when the submitter found it
# through a sys.path of its own (the script's environment is left as it is).
_SUPERVISOR_MAIN = (
    f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r}); "
    f"from runlog._jobs.supervisor import main; sys.exit(main())"
)


def submit(
    experiment: Experiment,
    config: Any,
    *,
    tags: Mapping[str, Any] | None = None,
    show_output: bool = False,
    run_id: str | None = None,
    log_system_metrics: bool | None = None,
    **kwargs: Any,
) -> Run:
    """Start ``config`` as a run of ``experiment`` in a detached process; returns the run at once.

    With ``show_output=True`` the driver log is streamed until the run ends (as
    ``run.wait_for_completion(show_output=True, raise_on_error=False)``) and the
    ended run is returned. ``log_system_metrics=False`` samples no system metrics (default:
    ``RUNLOG_SYSTEM_METRICS``, on).
    """
    if kwargs:
        raise TypeError(f"experiment.submit() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    if os.name != "posix":
        raise UnsupportedConfigurationError(
            "experiment.submit needs a POSIX system (Linux, macOS): it stops runs through process groups and "
            "signals. On Windows, run the script directly and log with Run.get_context() / start_logging()"
        )
    if not isinstance(config, ScriptRunConfig):
        raise TypeError(
            f"experiment.submit(config) takes a runlog ScriptRunConfig; got {type(config).__name__}. "
            f"Build one with ScriptRunConfig(source_directory='.', script='train.py')"
        )
    source = Path(config.source_directory).absolute()
    config._check_target()
    interpreter = config.environment._interpreter()
    argv = config._argv(interpreter, source)
    world_size = config._world_size()
    store = experiment.workspace.store
    snapshot = _snapshot.scan(source, exclude=[store])
    if config.script is not None:
        script_name = Path(argv[2]).as_posix()
        if script_name not in snapshot.files:
            raise ValueError(
                f"script {script_name!r} is excluded from the snapshot by an ignore file (.gitignore or "
                f".runlogignore) in {source}; un-ignore it (e.g. '!{script_name}' in .runlogignore)"
            )
    run_id = validate_run_id(run_id or _new_run_id(experiment.name))
    run_dir = layout.run_dir(store, experiment.name, run_id)
    if (run_dir / layout.RUN_RECORD).exists():
        raise ValueError(f"a run with id {run_id!r} already exists in experiment {experiment.name!r}")
    logs_dir = run_dir / layout.FILES_DIR / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    nproc = world_size or 1
    supervisor_log = os.open(logs_dir / Path(SUPERVISOR_LOG).name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SUPERVISOR_MAIN, "runlog-supervisor", run_id],
            stdin=subprocess.PIPE,
            stdout=supervisor_log,
            stderr=supervisor_log,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        os.close(supervisor_log)
    assert proc.stdin is not None
    workdir: str | None = None
    try:
        run = Run._create(
            experiment,
            run_id=run_id,
            run_type="script",
            status=RunStatus.QUEUED,
            extra={
                "pid": proc.pid,  # the run's process: the supervisor (the script's parent)
                "submitter_pid": os.getpid(),
                "supervisor_pid": proc.pid,
                "pgid": proc.pid,
                "script": config.script,
                "arguments": config.arguments,
                "command": argv,
                "interpreter": interpreter,
                "source_directory": str(source),
                "environment": config.environment.name,
                "process_count": nproc,
                "distributed": type(config.distributed_job_config).__name__ if world_size else None,
                "driver_log": rank_log_name(0 if world_size else None, nproc),
                "snapshot": {"files": len(snapshot.files), "bytes": snapshot.size},
            },
        )
        if tags:
            run.set_tags(dict(tags))
        for name, path in snapshot.files.items():
            run._writer.add_file(f"snapshot/{name}", path)
        workdir = tempfile.mkdtemp(prefix=f"runlog-{run_id}-")
        snapshot.copy_to(Path(workdir))
        spec = {
            "store": str(store),
            "tracking_uri": experiment.workspace.tracking_uri,
            "experiment": experiment.name,
            "run_id": run_id,
            "argv": argv,
            "workdir": workdir,
            "source_directory": str(source),
            "nproc": nproc,
            "distributed": world_size is not None,
            "env": config._environment_variables(),
            "max_run_duration_seconds": config.max_run_duration_seconds,
            "mpi": isinstance(config.distributed_job_config, MpiConfiguration),
            "system_metrics": log_system_metrics,
        }
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
    except BaseException as exc:
        proc.stdin.close()  # EOF before a spec: the supervisor exits without starting anything
        proc.wait()
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        if (run_dir / layout.RUN_RECORD).exists():
            try:
                failed = Run(experiment, run_id)
                failed.fail(error_details=exc, error_code="SubmitError")
            except Exception:
                pass
        raise
    threading.Thread(target=proc.wait, name=f"runlog-reap-{proc.pid}", daemon=True).start()
    run._writer.close()  # a notebook submitting many runs keeps no descriptors open (a later write reopens)
    _log.debug("submitted run %s: supervisor pid %d, %d process(es), working copy %s", run_id, proc.pid, nproc, workdir)
    if show_output:
        wait_for_completion(run, show_output=True, raise_on_error=False)
    return run
