"""runlog.cli.ui: `runlog ui`, the viewer served on a socket bound here (a token for any non-loopback host)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

import runlog
from runlog.cli import main
from runlog.cli import ui as ui_cli
from runlog.cli.ui import _listen, is_loopback, serve_config, ui


def test_non_loopback_host_gets_a_generated_token(store: Path) -> None:
    """Binding to a non-loopback address without --token generates one; loopback needs none; --token is kept if usable."""
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
    config, token = serve_config(store, "0.0.0.0", 5050, None, warm=False)
    assert token and len(token) >= 24 and config.app.token == token
    assert serve_config(store, "127.0.0.1", 5050, None, warm=False)[1] is None
    assert serve_config(store, "0.0.0.0", 5050, "my-own-token-0123", warm=False)[1] == "my-own-token-0123"
    runlog.Workspace(store)  # `runlog ui` reads an existing store only (issue 15)
    result = CliRunner().invoke(ui, ["--store", str(store), "--token", "short; x"])
    assert result.exit_code == 2 and "--token" in result.output and "16 characters" in result.output


def test_ui_command_prints_a_generated_token_for_a_public_host(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`runlog ui --host 0.0.0.0` prints an address with a fresh token, and the server it starts requires it."""
    runlog.Workspace(store)  # `runlog ui` reads an existing store only (issue 15)
    import uvicorn

    started: list[Any] = []

    def fake_run(self: Any, sockets: list[socket.socket]) -> None:
        started.append(self.config)
        for sock in sockets:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)

    def loopback_instead(host: str, port: int) -> socket.socket:  # never listen beyond 127.0.0.1 in tests
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        return sock

    monkeypatch.setattr(ui_cli, "_listen", loopback_instead)
    result = CliRunner().invoke(ui, ["--store", str(store), "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    found = re.search(r"open http://0\.0\.0\.0:\d+/\?token=([\w-]{24,})", result.output)
    assert found, result.output
    assert started and started[0].app.token == found.group(1)
    assert started[0].host == "0.0.0.0"


def test_ui_is_a_runlog_command() -> None:
    """`runlog ui` is reachable from the main command (loaded lazily) with its options."""
    result = CliRunner().invoke(main, ["ui", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--token" in result.output and "127.0.0.1" in result.output


def test_ui_command_reports_a_busy_port(store: Path) -> None:
    """`runlog ui` on a port in use fails with a message that says what to do."""
    runlog.Workspace(store)  # `runlog ui` reads an existing store only (issue 15)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        result = CliRunner().invoke(ui, ["--store", str(store), "--port", str(busy.getsockname()[1])])
    finally:
        busy.close()
    assert result.exit_code != 0
    assert "--port" in result.output


def test_ui_command_serves_and_prints_the_address(store: Path) -> None:
    """`runlog ui --port 0` prints its address and answers the API there until stopped."""
    run = runlog.Experiment(runlog.Workspace(store), "cli").start_logging(outputs=False)
    run.log("loss", 0.5)
    run.complete()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runlog.cli", "ui", "--store", str(store), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        address = None
        deadline = time.monotonic() + 30
        while address is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
            address = found.group(1) if found else None
        assert address, "runlog ui printed no address"
        resp = httpx.get(address + "api/runs", timeout=10)
        assert resp.json()["runs"][0]["metrics"]["loss"]["last"] == 0.5
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_loopback_is_told_by_address_not_by_name() -> None:
    for host in ("127.0.0.1", "127.255.0.9", "::1", "[::1]", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "localhost.example", "127.0.0.1.nip.io", ""):
        assert not is_loopback(host), host


def test_a_busy_port_is_a_clear_error_and_port_0_gets_a_number() -> None:
    sock = _listen("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        sock.listen()
        with pytest.raises(click.ClickException, match=f"cannot listen on 127.0.0.1:{port}.*--port 0"):
            _listen("127.0.0.1", port)
    finally:
        sock.close()
