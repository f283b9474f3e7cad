"""Helpers shared by the viewer's tests: a real uvicorn server on a free 127.0.0.1 port, and a seeded store."""

from __future__ import annotations

import math
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import runlog

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000200a5f1e1a00000000049454e44ae426082"
)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's chromium, which the browser tests drive with Playwright (never `playwright install`)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("the browser tests need Debian's chromium: run `make test` (or apt-get install -y chromium)")
    return path


@contextmanager
def serve(store: Path, token: str | None = None) -> Iterator[str]:
    """Run the viewer for ``store`` in a thread; yield its base URL; stop it on exit."""
    import uvicorn

    from runlog.ui import create_app

    config = uvicorn.Config(create_app(store, token=token), log_level="warning", access_log=False, lifespan="on")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the viewer did not start within 15 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def seed(store: Path) -> dict[str, Any]:
    """A store with known values: two finished runs, a child, a running run with a growing log."""
    ws = runlog.Workspace(store)
    exp = runlog.Experiment(ws, "mnist")
    other = runlog.Experiment(ws, "cifar")
    runs: dict[str, Any] = {}

    a = exp.start_logging(outputs=False, display_name="alpha")
    for step, loss in enumerate([0.9, 0.4, 0.7, 0.5]):  # last 0.5, min 0.4, max 0.9
        a.log("loss", loss, step=step)
    a.log("acc", 0.8)
    a.log("note", "first <b>try</b>")
    a.log("bad", float("nan"))
    for i in range(5):
        a.log_row("roc", fpr=i / 4, tpr=math.sqrt(i / 4), threshold=1 - i / 4)
    a.tag("lr", "0.1")
    a.tag("<img src=x onerror=alert(1)>", "<b>bold</b>")
    a.add_properties({"seed": "42"})
    a.upload_file("outputs/model.txt", _tmp_file(store, "weights 1 2 3\n"))
    a.upload_file("outputs/page.html", _tmp_file(store, "<script>alert('file')</script>"))
    a.log_image("sample", path=_tmp_file(store, PNG, suffix=".png"))
    a._writer.write_log("epoch 1 done\n<script>alert(1)</script>\n")
    child = a.child_run(name="alpha-child")
    child.log("loss", 0.3)
    child.complete()
    a.complete()

    b = exp.start_logging(outputs=False, display_name="beta")
    for step, loss in enumerate([1.2, 0.2, 0.6]):  # last 0.6, min 0.2, max 1.2
        b.log("loss", loss, step=step)
    b.log("acc", 0.9)
    b.log_table("roc", {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.8, 1.0], "threshold": [1.0, 0.5, 0.0]})
    b.tag("lr", "0.01")
    b.complete()

    long_exp = runlog.Experiment(ws, "long")
    d = long_exp.start_logging(outputs=False, display_name="delta-long")
    d._writer.scalars({"wave": 0.0}, 0)
    for i in range(1, 20_000):
        d._writer.scalar("wave", math.sin(i / 500) + (5.0 if i == 9_000 else 0.0), i)
    d.complete()

    c = other.start_logging(outputs=False, display_name="gamma-live")
    c.log("loss", 2.0, step=0)
    c._writer.write_log("starting\n")
    runs.update(alpha=a, beta=b, child=child, live=c, long=d, ws=ws)
    return runs


def _tmp_file(store: Path, content: str | bytes, suffix: str = ".txt") -> Path:
    folder = store.parent / "seed-files"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"f{len(list(folder.iterdir()))}{suffix}"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path
