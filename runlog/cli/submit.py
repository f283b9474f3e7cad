"""``runlog submit``: run a script as a run of an experiment, streaming its driver log."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from .._errors import RunlogError
from .._jobs.submit import Environment, PyTorchConfiguration, ScriptRunConfig
from .._model.workspace import Experiment
from .common import _workspace, store_option

__all__ = ["submit"]


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE; got {item!r}", param_hint=option)
        result[key] = value
    return result


def exit_code_of(details: dict[str, object]) -> int:
    """The exit status ``runlog submit`` ends with: the script's; 143 (128 + SIGTERM) for a canceled run."""
    status = details.get("status")
    if status == "Completed":
        return 0
    if status == "Canceled":
        return 143
    error = details.get("error")
    inner = error.get("error", {}) if isinstance(error, dict) else {}
    code = inner.get("exit_code") if isinstance(inner, dict) else None
    return code if isinstance(code, int) and code != 0 else 1


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]})
@click.argument("script", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option("--experiment", "-e", "experiment_name", help="Experiment name (default: the script's name).")
@click.option(
    "--source-directory",
    "-s",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder snapshotted into the run (default: the current folder, or the script's if it is outside).",
)
@click.option("--nproc", type=click.IntRange(min=1), default=None, help="Start N processes (RANK, WORLD_SIZE set).")
@click.option("--no-stream", is_flag=True, help="Print the run id and return at once.")
@click.option("--python", "interpreter", default=None, help="Interpreter to run the script (default: this one).")
@click.option("--env", "env_vars", multiple=True, metavar="KEY=VALUE", help="Extra environment variable (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag of the run (repeatable).")
@store_option
def submit(
    script: Path,
    script_args: tuple[str, ...],
    experiment_name: str | None,
    source_directory: Path | None,
    nproc: int | None,
    no_stream: bool,
    interpreter: str | None,
    env_vars: tuple[str, ...],
    tags: tuple[str, ...],
    store: Path | None,
) -> None:
    """Run SCRIPT as a run; arguments after `--` go to the script.

    \b
    runlog submit train.py --experiment ridge -- --alpha 0.5
    runlog submit train.py --nproc 2 --no-stream

    Exits with the script's exit status (143 if the run was canceled).
    """
    args = list(script_args)
    if args and args[0] == "--":
        args = args[1:]
    script_path = script.absolute()
    if source_directory is None:
        cwd = Path.cwd()
        source = cwd if script_path.is_relative_to(cwd) else script_path.parent
    else:
        source = source_directory.absolute()
    if not script_path.is_file():
        raise click.BadParameter(f"no such file: {script}", param_hint="SCRIPT")
    if not script_path.is_relative_to(source):
        raise click.BadParameter(f"{script} is not inside the source directory {source}", param_hint="SCRIPT")
    name = experiment_name or re.sub(r"[^\w\-]+", "-", script_path.stem).strip("-_") or "default"
    env = Environment("runlog-cli")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = interpreter
    env.environment_variables = _pairs(env_vars, "--env")
    try:
        ws = _workspace(store)
        exp = Experiment(ws, name)
        config = ScriptRunConfig(
            source_directory=str(source),
            script=script_path.relative_to(source).as_posix(),
            arguments=args,
            environment=env,
            distributed_job_config=PyTorchConfiguration(process_count=nproc) if nproc else None,
        )
        run = exp.submit(config, tags=_pairs(tags, "--tag") or None)
    except (RunlogError, ValueError, TypeError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if no_stream:
        click.echo(run.id)
        return
    details = run.wait_for_completion(show_output=True, raise_on_error=False)
    if details.get("status") not in ("Completed", "Failed", "Canceled"):  # Ctrl-C: the run keeps going
        sys.exit(130)
    sys.exit(exit_code_of(details))
