"""What the CLI tests share: run a `runlog` command in-process and get its output."""

from __future__ import annotations

from click.testing import CliRunner

from runlog.cli import main


def invoke(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fail(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code != 0, result.output
    return result.output
