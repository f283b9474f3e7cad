"""``runlog ui``: serve the local web viewer of a store."""

from __future__ import annotations

import ipaddress
import secrets
import socket
from pathlib import Path
from typing import Any

import click

from .common import _existing_workspace, store_option

__all__ = ["is_loopback", "serve_config", "ui"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses no other machine can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_config(store: Path, host: str, port: int, token: str | None, warm: bool = True) -> tuple[Any, str | None]:
    """The uvicorn config of the viewer and the token in force (generated for a non-loopback host)."""
    try:
        import uvicorn

        from ..ui.app import create_app  # deferred: Starlette is the optional `ui` extra
    except ImportError as exc:
        raise click.ClickException("the viewer needs Starlette and uvicorn: pip install 'runlog[ui]'") from exc
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    try:
        app = create_app(store, token=token, warm=warm)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--token") from exc
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"), token


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket (bound here, so a busy port is a clear error and --port 0 gets a number)."""
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
    return sock


@click.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on. Anything but loopback needs a token.")
@click.option("--port", default=5050, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option(
    "--token",
    envvar="RUNLOG_UI_TOKEN",
    default=None,
    help="Require this token on every request (generated and printed when --host is not loopback). Env: RUNLOG_UI_TOKEN.",
)
def ui(store: Path | None, host: str, port: int, token: str | None) -> None:
    """Serve the web viewer of a store: runs table, charts, run pages, live logs (never creates a store)."""
    ws = _existing_workspace(store)
    config, token = serve_config(ws.store, host, port, token)
    sock = _listen(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    address = f"http://{shown}:{port}/"
    click.echo(f"runlog ui: serving {ws.store}")
    if token:
        click.echo(f"  open {address}?token={token}")
        click.echo("  every request must carry this token; keep it secret (there is no TLS: use a tunnel across networks)")
    else:
        click.echo(f"  open {address}")
    click.echo("  press Ctrl+C to stop")
    import uvicorn

    uvicorn.Server(config).run(sockets=[sock])
