"""A loopback HTTP proxy that breaks things on purpose, and a real ``mlflow server`` to put behind it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MlflowServer:
    """``mlflow server`` with a sqlite backend and artifact serving, on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        mlflow = Path(sys.executable).parent / "mlflow"
        log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen(
            [
                str(mlflow), "server",
                "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination", str(self.root / "art"),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"mlflow server did not answer /health within {timeout} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            proc.wait(5)


class FaultProxy:
    """Forwards to ``backend_port``; can refuse connections, answer 503/429 or any fixed status, or be slow.

    ``answer = (status, body)`` answers every request with that status and JSON body (the backend
    is not asked: a proxy with nothing behind it is a server that always fails that way).
    """

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.requests: list[tuple[float, str, str, int]] = []  # (time, method, path, status)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()
        self.listen()

    def reset(self) -> None:
        self.fail_every = 0
        self.retry_after_at: int | None = None
        self.delay = 0.0
        self.answer: tuple[int, bytes] | None = None
        self.count = 0
        self.requests = []

    # -- refusing connections: the listener really goes away ------------------------------------

    def listen(self) -> None:
        if self._server is not None:
            return
        proxy = self

        class Handler(_Handler):
            owner = proxy

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def refuse(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def up(self) -> None:
        self.listen()

    @property
    def down(self) -> bool:
        return self._server is None

    def close(self) -> None:
        self.refuse()

    # -- what one request gets ------------------------------------------------------------------

    def decide(self) -> tuple[int | None, dict[str, str]]:
        with self.lock:
            self.count += 1
            n = self.count
        if self.delay:
            time.sleep(self.delay)
        if self.answer is not None:
            return self.answer[0], {}
        if self.retry_after_at is not None and n == self.retry_after_at:
            return 429, {"Retry-After": "2"}
        if self.fail_every and n % self.fail_every == 0:
            return 503, {}
        return None, {}

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append((time.monotonic(), method, path, status))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _proxy(self) -> None:
        try:
            self._forward()
        except Exception:
            self.close_connection = True

    def _forward(self) -> None:
        proxy = self.owner
        body = self._body()
        if proxy.down:
            self.close_connection = True  # a connection kept alive from before: drop it
            return
        status, headers = proxy.decide()
        if status is not None:
            payload = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected"}'
            if proxy.answer is not None:
                payload = proxy.answer[1]
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            proxy.record(self.command, self.path, status)
            return
        forward = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "transfer-encoding", "content-length")}
        forward["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection("127.0.0.1", proxy.backend_port, timeout=60)
        try:
            connection.request(self.command, self.path, body=body, headers=forward)
            response = connection.getresponse()
            data = response.read()
        except OSError:
            self.close_connection = True  # the server is down: the client sees the connection drop
            proxy.record(self.command, self.path, 0)
            return
        finally:
            connection.close()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        proxy.record(self.command, self.path, response.status)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _proxy
