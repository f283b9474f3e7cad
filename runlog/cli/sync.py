"""``runlog sync``: send runs (offline, interrupted, or not finished uploading) to the tracking server."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .._errors import RunlogError, UploadError
from .._store import layout
from .._upload import Uploader, UploadOptions, make_target
from .common import _workspace, resolve_run_id, store_option

_log = logging.getLogger("runlog.upload")


@click.command("sync")
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--all", "all_runs", is_flag=True, help="Sync every run of the store.")
@store_option
@click.option(
    "--tracking-uri",
    default=None,
    help="The MLflow tracking server (default: the workspace's, $RUNLOG_TRACKING_URI or $MLFLOW_TRACKING_URI).",
)
@click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to keep retrying a run while the server is unreachable before giving up on it.",
)
def sync(runs: tuple[str, ...], all_runs: bool, store: Path | None, tracking_uri: str | None, timeout: float) -> None:
    """Upload runs to the MLflow tracking server: what was not sent yet, and nothing twice.

    Safe to run at any time, again and again: each run resumes from its upload
    cursor, and a run that is up to date sends nothing.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    if not runs and not all_runs:
        raise click.UsageError("name the runs to sync (runlog sync RUN_ID ...) or pass --all")
    try:
        ws = _workspace(store)
    except RunlogError as exc:
        raise click.ClickException(str(exc)) from exc
    uri = tracking_uri or ws.tracking_uri
    if not uri:
        raise click.UsageError(
            "no tracking server: pass --tracking-uri http://host:5000, or set RUNLOG_TRACKING_URI "
            "(or MLFLOW_TRACKING_URI)"
        )
    run_ids = ws.all_run_ids() if all_runs else list(runs)
    run_dirs = []
    for run_id in run_ids:
        try:
            run_id = run_id if all_runs else resolve_run_id(ws, run_id)  # a unique prefix or `latest` too
            run_dirs.append(layout.run_dir(ws.store, ws.find_run_experiment(run_id), run_id))
        except RunlogError as exc:
            raise click.ClickException(str(exc)) from exc
    options = UploadOptions()
    console = Console(stderr=True, highlight=False)  # run content is data: never highlighted

    def make(run_dir: Path) -> Uploader:
        try:
            return Uploader(run_dir, make_target(uri, options), options)
        except (ValueError, ImportError) as exc:
            raise click.ClickException(str(exc)) from exc

    # One uploader (and one connection) at a time, also for `--all` over a large store: a first
    # pass measures what is left (for the progress bar), the second sends run by run.
    total, endpoint = 0, uri
    for run_dir in run_dirs:
        probe = make(run_dir)
        try:
            total += probe.pending().total_bytes
            endpoint = probe.target.endpoint
        except OSError:  # removed or unreadable: the second pass reports it
            pass
        finally:
            probe.target.close()
    failed = 0
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"sync to {escape(str(endpoint))}", total=total or 1)
        for run_dir in run_dirs:
            try:
                uploader = make(run_dir)
            except click.ClickException:
                raise
            except Exception as exc:  # one run that cannot be read does not stop the others
                failed += 1
                progress.console.print(f"[red]{escape(run_dir.name)}: not synced[/red]: {escape(str(exc))}")
                continue
            progress.update(task, description=escape(str(uploader.run_id)))
            try:
                locked_ok = uploader.sync(progress=lambda n: progress.advance(task, n), timeout=timeout)
            except (UploadError, OSError) as exc:
                failed += 1
                failure = uploader.last_failure
                if failure is not None:
                    why = str(failure)  # why the last request failed, and what to do
                else:
                    hint = getattr(exc, "hint", "")
                    why = str(exc) + (f" ({hint})" if hint else "")
                # (server messages and hints are text: a "[/x]" in them is not console markup)
                progress.console.print(
                    f"[red]{escape(str(uploader.run_id))}: not synced[/red]: {escape(why)}"
                    + " - what was sent is kept; run `runlog sync` again"
                )
                continue
            finally:
                uploader.target.close()
            if not locked_ok:
                progress.console.print(
                    f"[yellow]{escape(str(uploader.run_id))}: skipped[/yellow]: another process is uploading it right now"
                )
                continue
            s = uploader.stats
            if s.metric_events or s.meta_events or s.files:
                summary = f"{s.metric_events} metric event(s), {s.meta_events} tag/property event(s), {s.files} file(s) sent"
            else:
                summary = "up to date"
            dead = f", [red]{s.dead_letters} refused (see upload/*.dead.jsonl)[/red]" if s.dead_letters else ""
            where = (
                f"MLflow run {uploader.remote_run_id}" if uploader.target.name.startswith("mlflow") else uploader.target.endpoint
            )
            progress.console.print(f"{escape(str(uploader.run_id))}: {summary}{dead} -> {escape(str(where))}")
        progress.update(task, completed=total or 1)
    if failed:
        raise click.ClickException(f"{failed} run(s) not fully synced (why is said above); run `runlog sync` again once it is fixed")
