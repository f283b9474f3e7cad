"""``runlog ui``: serve the local web viewer of a store."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Any

import click

__all__ = ["is_loopback", "serve_config", "ui"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses no other machine can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_config(store: Path, host: str, port: int, token: str | None, warm: bool = True) -> tuple[Any, str, str | None]:
    """The uvicorn config, the address to print, and the token in force (generated when needed)."""
    try:
        import uvicorn
    except ImportError as exc:
        raise click.ClickException("the viewer needs uvicorn and Starlette: pip install 'runlog[ui]'") from exc
    from .app import create_app

    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    app = create_app(store, token=token, warm=warm)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/"
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    return config, address, token


@click.command()
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="RUNLOG_STORE",
    help="The store folder (default: $RUNLOG_STORE, a config file's store, or ./runlog-store).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on. Anything but loopback needs a token.")
@click.option("--port", default=5050, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option(
    "--token",
    envvar="RUNLOG_UI_TOKEN",
    default=None,
    help="Require this token on every request (generated and printed when --host is not loopback). Env: RUNLOG_UI_TOKEN.",
)
def ui(store: Path | None, host: str, port: int, token: str | None) -> None:
    """Serve the web viewer of a store: runs table, charts, run pages, live logs."""
    import socket

    from .._workspace import Workspace

    ws = Workspace(store) if store is not None else Workspace.from_config()
    config, address, token = serve_config(ws.store, host, port, token)
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port (or --port 0 for any free one)"
        ) from exc
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/"
    click.echo(f"runlog ui: serving {ws.store}")
    if token:
        click.echo(f"  open {address}?token={token}")
        click.echo("  (every request must carry this token; keep it secret)")
    else:
        click.echo(f"  open {address}")
    click.echo("  press Ctrl+C to stop")
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
