"""A real OTLP/HTTP receiver on 127.0.0.1 that decodes the protobuf, and fast upload options, for tests
of several layers."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from runlog._upload import UploadOptions


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def _attrs(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


class Receiver:
    """A small OTLP/HTTP receiver: decodes /v1/logs and /v1/metrics with opentelemetry-proto and keeps what it got.

    ``refuse`` makes it answer the next N requests with 503 (``Retry-After: 0``) without keeping them;
    ``reject`` answers 400 to metric requests containing that metric name, ``reject_log`` to log
    requests with a record whose body contains that text.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.logs: list[dict[str, Any]] = []
        self.points: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.refuse = 0
        self.refused = 0
        self.reject: str | None = None
        self.reject_log: str | None = None
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver.lock:
                    receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                    receiver.paths.append(self.path)
                    if receiver.refuse > 0:
                        receiver.refuse -= 1
                        receiver.refused += 1
                        self.send_response(503)
                        self.send_header("Retry-After", "0")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                if self.headers.get("Content-Type") != "application/x-protobuf":
                    self._answer(415, b"")
                elif self.path == "/v1/logs":
                    request_logs = ExportLogsServiceRequest.FromString(body)
                    bodies = [r.body.string_value for rl in request_logs.resource_logs for sl in rl.scope_logs for r in sl.log_records]
                    if receiver.reject_log is not None and any(receiver.reject_log in b for b in bodies):
                        self._answer(400, b"bad log record")
                    else:
                        self._answer(200, receiver.take_logs(request_logs))
                elif self.path == "/v1/metrics":
                    request = ExportMetricsServiceRequest.FromString(body)
                    names = {m.name for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
                    if receiver.reject in names:
                        self._answer(400, b"bad metric")
                    else:
                        self._answer(200, receiver.take_metrics(request))
                else:
                    self._answer(404, b"")

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.thread is not None:
            self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def take_logs(self, request: ExportLogsServiceRequest) -> bytes:
        with self.lock:
            for rl in request.resource_logs:
                resource = _attrs(rl.resource.attributes)
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        self.logs.append(
                            {
                                "resource": resource,
                                "scope": sl.scope.name,
                                "time": r.time_unix_nano,
                                "severity": r.severity_text,
                                "severity_number": r.severity_number,
                                "body": _value(r.body),
                                "attributes": _attrs(r.attributes),
                                "trace_id": r.trace_id.hex(),
                                "span_id": r.span_id.hex(),
                            }
                        )
        return ExportLogsServiceResponse().SerializeToString()

    def take_metrics(self, request: ExportMetricsServiceRequest) -> bytes:
        with self.lock:
            for rm in request.resource_metrics:
                resource = _attrs(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        for p in m.gauge.data_points:
                            value = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
                            self.points.append(
                                {"resource": resource, "name": m.name, "time": p.time_unix_nano, "value": value,
                                 "attributes": _attrs(p.attributes)}
                            )  # fmt: skip
        return ExportMetricsServiceResponse().SerializeToString()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast_options() -> UploadOptions:
    return UploadOptions(retry_initial=0.02, retry_max=0.1, interval=0.05, log_interval=0.0, finish_timeout=60, read_chunk=4096)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the deadline")
        time.sleep(0.02)


