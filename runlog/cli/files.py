"""``runlog files`` and ``runlog download``: a run's files, listed or copied out (never overwriting without --force)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import click

from .._errors import did_you_mean
from .common import _cut, _run, store_option

__all__ = ["download", "files"]


@click.command()
@store_option
@click.argument("run_id")
def files(store: Path | None, run_id: str) -> None:
    """List a run's files (outputs, images, logs)."""
    run = _run(store, run_id)
    for name in run.get_file_names():
        click.echo(name)


@click.command()
@store_option
@click.argument("run_id")
@click.option("--zip", "zip_path", type=click.Path(dir_okay=False, path_type=Path), help="Write all files into this zip.")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("."), help="Folder to copy files into.")
@click.option("--name", "names", multiple=True, help="Only this file (repeatable).")
@click.option("--force", is_flag=True, help="Overwrite files that exist already.")
def download(store: Path | None, run_id: str, zip_path: Path | None, output: Path, names: tuple[str, ...], force: bool) -> None:
    """Download a run's files, one by name or all (as a folder or a zip); never overwrites without --force."""
    run = _run(store, run_id)
    all_names = run.get_file_names()
    chosen = list(names) or all_names
    for name in chosen:
        if name not in all_names:
            hint = did_you_mean(name, all_names)
            raise click.ClickException(f"run {run.id} has no file {name!r}.{hint}")
    targets = [zip_path] if zip_path is not None else [output / name for name in chosen]
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if existing and not force:
        listed = ", ".join(_cut(str(t), 100, False) for t in existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise click.ClickException(f"{listed} exist(s) already: pass --force to overwrite, or --output another folder")
    if zip_path is not None:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in chosen:
                zf.write(run._reader.file_path(name), name)
        click.echo(f"wrote {len(chosen)} file(s) of {run.id} to {zip_path}")
    else:
        for name in chosen:
            click.echo(run.download_file(name, output / name))

