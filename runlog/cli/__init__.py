"""The ``runlog`` command: look at runs in a store from the shell.

One module per group of commands: :mod:`.runs` (experiments, runs, show), :mod:`.metrics`,
:mod:`.files` (files, download), :mod:`.logs`, :mod:`.submit` and :mod:`.ui` (loaded when
used); :mod:`.common` holds what they share. ``runlog sync`` lives with the uploaders.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util

import click

from . import files, logs, metrics, runs
from .common import (
    _existing_workspace,
    _workspace,
    resolve_run_id,
    short_ids,
    store_option,
)
from .logs import _LogOutput, log_text, progress_key
from .runs import _IndexProgress

__all__ = [
    "_IndexProgress", "_LogOutput", "_existing_workspace", "_workspace", "log_text", "main", "progress_key",
    "resolve_run_id", "short_ids", "store_option",
]  # fmt: skip

# Commands that live in their own modules (and may need optional extras): name -> "module:attr".
LAZY_COMMANDS = {
    "submit": "runlog.cli.submit:submit",
    "sync": "runlog.cli.sync:sync",
    "ui": "runlog.cli.ui:ui",
}


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class _Group(click.Group):
    """A group that loads some commands lazily and suggests close names for typos."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n, target in LAZY_COMMANDS.items() if _module_exists(target.split(":")[0]))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            try:
                command = getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError:
                return None
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint}")
        return super().resolve_command(ctx, args)



@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runlog")
def main() -> None:
    """Look at ML training runs in a local runlog store."""


for _command in (runs.experiments, runs.runs, runs.show, metrics.metrics, files.files, files.download, logs.logs):
    main.add_command(_command)
