"""runlog.cli: the `runlog` command group (lazily loaded commands, a suggestion for a mistyped one)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from runlog.cli import main


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_unknown_command_suggests_the_close_one() -> None:
    """A mistyped command name fails with a suggestion and a usage hint."""
    result = CliRunner().invoke(main, ["rnus"])
    assert result.exit_code == 2
    assert "Did you mean 'runs'" in result.output and "--help" in result.output


def test_the_lazy_commands_are_listed_and_loaded_when_named() -> None:
    """`runlog --help` lists every command, the lazily loaded ones too; naming one loads it."""
    from runlog.cli import LAZY_COMMANDS

    out = CliRunner().invoke(main, ["--help"]).output
    for name in ("experiments", "runs", "show", "metrics", "files", "download", "logs", *LAZY_COMMANDS):
        assert f"  {name}" in out, name
    ctx = click.Context(main)
    assert main.get_command(ctx, "sync") is not None and main.get_command(ctx, "nothing") is None


def test_a_lazy_command_whose_module_is_missing_is_no_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog import cli

    monkeypatch.setitem(cli.LAZY_COMMANDS, "ghost", "runlog.cli.no_such_module:ghost")
    ctx = click.Context(main)
    assert "ghost" not in main.list_commands(ctx) and main.get_command(ctx, "ghost") is None
    result = CliRunner().invoke(main, ["ghost"])
    assert result.exit_code == 2 and "No such command 'ghost'" in result.output


def test_version_and_short_help_option() -> None:
    assert "version" in CliRunner().invoke(main, ["--version"]).output
    assert CliRunner().invoke(main, ["-h"]).output.startswith("Usage:")
