"""The OTLP target: ships a run's driver logs and metrics to an OpenTelemetry (OTLP/HTTP) endpoint.

The mapping (documented in ``docs/opentelemetry.md``):

* every line of the run's driver logs (``logs/driver_log*.txt``, one per process) -> one
  OTLP log record on ``/v1/logs``, with the time, severity, logger (as the scope) and trace
  context parsed back from runlog's line layouts, and the attributes ``runlog.log`` (the
  file) and ``runlog.seq`` (the line's index in it, from 0): a deterministic identity, so a
  re-send after a crash is recognisable;
* numeric scalars, list elements and numeric row/table columns -> gauge points on
  ``/v1/metrics`` at the event's stored time (a re-send repeats the point exactly: same
  series, timestamp and value, which time-series stores treat as one sample); system
  metrics (``system/...``) under OpenTelemetry's semantic-convention names, units and
  attributes (``system.cpu.utilization``, ``process.memory.usage``, ``hw.gpu.utilization``,
  ... see ``semconv_point``);
* the run -> resource attributes ``service.name`` (``OTEL_SERVICE_NAME`` or the experiment),
  ``service.instance.id`` and ``runlog.run_id`` (the run id), ``runlog.experiment``;
* the end of the run -> one log record ``run <id> <status>`` with ``runlog.status``.

Strings, images, other files, tags and properties have no OTLP counterpart and stay in the
local store. Configuration follows the OpenTelemetry exporter variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``..._HEADERS``, ``..._TIMEOUT``, ``..._COMPRESSION`` and the
``..._LOGS_*`` / ``..._METRICS_*`` variants) unless given explicitly. Requests are protobuf
messages of ``opentelemetry-proto``; retries, the cursor and the dead-letter file are the
uploader core's.
"""

from __future__ import annotations

import base64
import calendar
import datetime as _dt
import gzip
import hashlib
import http.client
import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import UploadError, UploadRejected, UploadUnavailable
from .._metrics import SYSTEM_PREFIX
from .._store import layout
from ._core import CONTENT_REFUSALS, MetaEvent, MetricEvent, RunInfo, _read_whole_lines
from ._retry import UploadOptions, error_for_response

try:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "uploading to an OTLP endpoint needs opentelemetry-proto: pip install 'runlog[otel]'"
    ) from _exc

__all__ = ["OtlpConfig", "OtlpTarget", "group_lines", "parse_headers", "parse_line", "target_for_uri", "target_name"]

_log = logging.getLogger("runlog.upload")


DEFAULT_ENDPOINT = "http://localhost:4318"
MAX_RECORDS = 1000  # log records or metric points per request
MAX_REQUEST_BYTES = 1_000_000
SCOPE = "runlog"
_INT64 = (-(2**63), 2**63 - 1)

# -- configuration -----------------------------------------------------------------------------


def _env(signal: str, name: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME>``, else ``OTEL_EXPORTER_OTLP_<NAME>`` (the spec's precedence)."""
    for var in (f"OTEL_EXPORTER_OTLP_{signal}_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
        value = os.environ.get(var)
        if value is not None and value.strip():
            return value.strip()
    return None


def parse_headers(text: str | None) -> dict[str, str]:
    """``key1=value1,key2=value2`` (values URL-encoded, as the OTLP exporter variables define them)."""
    headers: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _log.warning("ignoring a malformed OTLP header entry (expected key=value); check OTEL_EXPORTER_OTLP_HEADERS")
            continue
        headers[urllib.parse.unquote(key.strip()).lower()] = urllib.parse.unquote(value.strip()).strip()
    return headers


def _check_headers(headers: Mapping[str, str]) -> None:
    """Refuse a header an HTTP client cannot send, naming it but never its value (often a credential)."""
    for key, value in headers.items():
        if any(ord(c) < 32 or ord(c) == 127 for c in key + value) or not key:
            raise ValueError(
                f"the OTLP header {key!r} has a control character (a line break?) in its name or value, which "
                f"cannot be sent over HTTP; check OTEL_EXPORTER_OTLP_HEADERS or the headers passed"
            )


def _signal_url(signal: str, base: str | None, explicit: str | None) -> str:
    if explicit:
        return explicit
    per_signal = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if base is None and per_signal:
        return per_signal  # used as is (the spec: no path appended)
    root = (base or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT).rstrip("/")
    return f"{root}/v1/{signal}"


def redact(url: str) -> str:
    """``url`` without credentials or query (for messages, logs and the cursor)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"***@{host}" if parts.username or parts.password else host) + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))


class OtlpConfig:
    """Where and how to send: explicit values win, then the ``OTEL_EXPORTER_OTLP_*`` variables, then defaults.

    ``endpoint`` is the base URL (``http://collector:4318``; ``/v1/logs`` and ``/v1/metrics``
    are appended); ``logs_endpoint``/``metrics_endpoint`` are full URLs used as given.
    ``timeout`` is in seconds (the variables are in milliseconds, default 10 s).
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        logs_endpoint: str | None = None,
        metrics_endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        compression: str | None = None,
    ) -> None:
        self.logs_url = _signal_url("logs", endpoint, logs_endpoint)
        self.metrics_url = _signal_url("metrics", endpoint, metrics_endpoint)
        for url in (self.logs_url, self.metrics_url):
            if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(
                    f"an OTLP/HTTP endpoint must be an http:// or https:// URL such as http://localhost:4318; "
                    f"got {redact(url)!r}. Set OTEL_EXPORTER_OTLP_ENDPOINT or pass endpoint="
                )
        self.headers = {
            signal: {
                **parse_headers(_env(signal.upper(), "HEADERS")),
                **{k.strip().lower(): str(v).strip() for k, v in (headers or {}).items()},
            }
            for signal in ("logs", "metrics")
        }
        # user:password@ in an endpoint is HTTP Basic auth: urllib would take it for part of the host name.
        self.logs_url = _userinfo_to_header(self.logs_url, self.headers["logs"])
        self.metrics_url = _userinfo_to_header(self.metrics_url, self.headers["metrics"])
        for signal_headers in self.headers.values():
            _check_headers(signal_headers)
        self.timeout = {signal: timeout if timeout is not None else _timeout_from_env(signal) for signal in ("logs", "metrics")}
        self.compression = {signal: (compression or _env(signal.upper(), "COMPRESSION") or "none").lower() for signal in ("logs", "metrics")}
        for value in self.compression.values():
            if value not in ("none", "gzip"):
                raise ValueError(f"OTLP compression must be 'gzip' or 'none'; got {value!r} (OTEL_EXPORTER_OTLP_COMPRESSION)")


def _userinfo_to_header(url: str, headers: dict[str, str]) -> str:
    """``url`` without its user info, which becomes an ``authorization: Basic`` header (unless one is set)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    headers.setdefault("authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _timeout_from_env(signal: str) -> float:
    raw = _env(signal.upper(), "TIMEOUT")
    if raw is None:
        return 10.0
    try:
        return max(0.001, float(raw) / 1000.0)
    except ValueError:
        _log.warning("OTEL_EXPORTER_OTLP_TIMEOUT=%r is not a number of milliseconds; using 10 s", raw)
        return 10.0


def target_name(config: OtlpConfig) -> str:
    """The cursor name of an OTLP endpoint pair: ``otlp-<8 hex digits>`` (URLs without credentials)."""
    key = redact(config.logs_url) + " " + redact(config.metrics_url)
    return "otlp-" + hashlib.sha1(key.encode()).hexdigest()[:8]


# -- values --------------------------------------------------------------------------------------


def _any(value: Any) -> AnyValue:
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    return AnyValue(string_value=json.dumps(value, default=repr, ensure_ascii=False))


def _kv(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=_any(value))


_SEVERITY = {
    "TRACE": 1, "DEBUG": 5, "INFO": 9, "NOTICE": 10, "WARN": 13, "WARNING": 13,
    "ERROR": 17, "EXCEPTION": 17, "CRITICAL": 21, "FATAL": 21,
}  # fmt: skip
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not an acknowledgement: urllib would turn the POST into a GET of the
    new address (with the headers, i.e. the credentials) and take that GET's 200 for success."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)

_TEXT_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z ([A-Z][A-Z0-9_]*):([^:]*):(.*)", re.S)
_TRACE_SUFFIX = re.compile(r" trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16})$")
_second_cache: dict[str, int] = {}


def _utc_seconds(text: str) -> int:
    seconds = _second_cache.get(text)
    if seconds is None:
        if len(_second_cache) > 4096:
            _second_cache.clear()
        seconds = _second_cache[text] = calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    return seconds


def _iso_ns(value: Any) -> int:
    try:
        return int(_dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        return 0


def parse_line(line: str) -> tuple[int, str, int, str, Any, dict[str, Any], bytes, bytes]:
    """``(time ns, severity text, severity number, logger, body, attributes, trace id, span id)`` of a driver-log line.

    Understands runlog's text layout (``<UTC time> LEVEL:logger:message [trace_id=.. span_id=..]``)
    and its JSON lines; any other line (captured ``print`` output) is a body with unknown time.
    """
    attributes: dict[str, Any] = {}
    trace_id = span_id = b""
    match = _TEXT_LINE.fullmatch(line)
    if match:
        second, frac, level, logger, message = match.groups()
        ns = _utc_seconds(second) * 1_000_000_000 + (int((frac[1:] + "000000000")[:9]) if frac else 0)
        found = _TRACE_SUFFIX.search(message)
        if found:
            trace_id, span_id = bytes.fromhex(found.group(1)), bytes.fromhex(found.group(2))
            message = message[: found.start()]
        return ns, level, _SEVERITY.get(level, 0), logger, message, attributes, trace_id, span_id
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            ns = _iso_ns(obj.pop("time", obj.pop("timestamp", ""))) if ("time" in obj or "timestamp" in obj) else 0
            level = str(obj.pop("level", obj.pop("levelname", "")) or "").upper()
            logger = str(obj.pop("logger", obj.pop("name", "")) or "")
            body = obj.pop("message", obj.pop("event", line))
            tid, sid = obj.pop("trace_id", None), obj.pop("span_id", None)
            if isinstance(tid, str) and isinstance(sid, str) and len(tid) == 32 and len(sid) == 16:
                try:
                    trace_id, span_id = bytes.fromhex(tid), bytes.fromhex(sid)
                except ValueError:
                    pass
            return ns, level, _SEVERITY.get(level, 0), logger, body, obj, trace_id, span_id
    return 0, "", 0, "", line, attributes, trace_id, span_id


_TRACEBACK_HEAD = b"Traceback (most recent call last):"
_CHAIN_HEADS = (b"During handling of the above exception", b"The above exception was the direct cause")
_EXCEPTION_LINE = re.compile(rb"[A-Za-z_][\w.]*(: .*)?")


def group_lines(lines: list[bytes]) -> list[list[bytes]]:
    """Lines grouped into records: a runlog record line and the traceback written with it.

    A traceback (``Traceback (most recent call last):``, its indented frame lines, chained
    exception headers with their blank lines, and the closing ``SomeError: message`` line)
    belongs to the record line right before it (a record logged with its exception);
    otherwise (a traceback the interpreter printed) it is a record of its own. Every other
    line is a record of its own. The grouping depends only on the lines, so a re-sent range
    groups the same way.
    """
    groups: list[list[bytes]] = []
    state = ""  # "" | "record" (a lone record line) | "tb" (inside a traceback) | "end" (after its last line) | "chain"
    count = len(lines)
    for i, line in enumerate(lines):
        stripped = line.rstrip(b"\r")
        continues = False
        if stripped.startswith(_TRACEBACK_HEAD):
            continues = state in ("record", "chain")
            next_state = "tb"
        elif state == "tb" and line[:1] in (b" ", b"\t"):
            continues, next_state = True, "tb"
        elif state == "tb" and _EXCEPTION_LINE.fullmatch(stripped):
            continues, next_state = True, "end"
        elif state in ("end", "chain") and not stripped and i + 1 < count:
            following = lines[i + 1]
            continues = following.startswith(_CHAIN_HEADS) or (state == "chain" and following.startswith(_TRACEBACK_HEAD))
            next_state = state if continues else ""
        elif state == "end" and stripped.startswith(_CHAIN_HEADS):
            continues, next_state = True, "chain"
        else:
            next_state = "record" if _TEXT_LINE.fullmatch(stripped.decode("utf-8", "replace")) else ""
        if continues and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
        state = next_state
    return groups


def is_driver_log(name: str) -> bool:
    """True for the driver logs of a run's processes: ``logs/driver_log.txt``, ``..._rank_<N>.txt``, ``..._<pid>.txt``."""
    return name.startswith(layout.LOGS_PREFIX + "driver_log") and name.endswith(".txt") and "/" not in name[len(layout.LOGS_PREFIX) :]


# -- the target ----------------------------------------------------------------------------------------


class OtlpTarget:
    """An OTLP/HTTP endpoint (a collector, or a backend that takes OTLP) as an upload target.

    Args:
        endpoint: base URL (``http://collector:4318``); default ``OTEL_EXPORTER_OTLP_ENDPOINT``.
        logs_endpoint, metrics_endpoint: full URLs (default: the ``..._LOGS_ENDPOINT`` /
            ``..._METRICS_ENDPOINT`` variables, else the base URL with ``/v1/logs``, ``/v1/metrics``).
        headers: extra request headers (e.g. ``{"authorization": "Bearer ..."}``), on top of
            ``OTEL_EXPORTER_OTLP_HEADERS``; never logged.
        timeout: seconds per request (default ``OTEL_EXPORTER_OTLP_TIMEOUT``, 10 s).
        compression: ``"gzip"`` or ``"none"`` (default ``OTEL_EXPORTER_OTLP_COMPRESSION``).
        step_attribute: also put ``runlog.step`` on metric points (off by default: an attribute
            per step makes every point its own time series in most backends).
    """

    max_points = MAX_RECORDS
    max_meta = 1000

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        logs_endpoint: str | None = None,
        metrics_endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        compression: str | None = None,
        step_attribute: bool = False,
        options: UploadOptions | None = None,
    ) -> None:
        self.config = OtlpConfig(
            endpoint,
            logs_endpoint=logs_endpoint,
            metrics_endpoint=metrics_endpoint,
            headers=headers,
            timeout=timeout,
            compression=compression,
        )
        self.name = target_name(self.config)
        logs, metrics = redact(self.config.logs_url), redact(self.config.metrics_url)
        self.endpoint = logs[: -len("/v1/logs")] if logs.endswith("/v1/logs") and metrics == logs[:-4] + "metrics" else f"{logs} + {metrics}"
        self.step_attribute = step_attribute
        self.options = options or UploadOptions()
        # Declared None, as docs/upload-core.md asks: the uploader core sets its retry policy
        # here, and every request goes through it (see _call).
        self.retry: Callable[[Callable[[], Any], str], Any] | None = None
        # Set by the core too: records a skipped part of a call in the dead-letter file, and
        # saves the cursor (this target's log positions included) after an acknowledged request.
        self.set_aside: Callable[[str, list[Any], UploadRejected], None] | None = None
        self.checkpoint: Callable[[], None] | None = None
        self._run: RunInfo | None = None
        self._state: dict[str, Any] = {}
        self._resource = Resource()
        self._cpus: int | None = None  # the sampling host's CPU count, when this is that host
        self._rejected_warnings = 0

    def __repr__(self) -> str:
        return f"OtlpTarget({self.endpoint!r})"

    def _call(self, fn: Callable[[], None], what: str) -> None:
        """One request, through the core's retry policy when the core has set it."""
        if self.retry is None:
            fn()
        else:
            self.retry(fn, what)

    # -- Target protocol --------------------------------------------------------------------------

    def open(self, run: RunInfo, state: dict[str, Any]) -> None:
        """Remember the run (no request: OTLP has no run to create); ``state`` keeps the log positions."""
        self._run = run
        self._state = state
        state.setdefault("run_id", run.run_id)
        state.setdefault("logs", {})
        self._resource = Resource(attributes=[_kv(k, v) for k, v in self._resource_attributes(run).items()])
        self._cpus = os.cpu_count() if run.record.get("host") == socket.gethostname() else None

    @staticmethod
    def _resource_attributes(run: RunInfo) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
            key, sep, value = item.partition("=")
            if sep and key.strip():
                attributes[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
        attributes["service.name"] = os.environ.get("OTEL_SERVICE_NAME", "").strip() or run.experiment
        attributes.update(
            {
                "service.instance.id": run.run_id,
                "runlog.run_id": run.run_id,
                "runlog.experiment": run.experiment,
            }
        )
        if run.display_name:
            attributes["runlog.run_name"] = run.display_name
        if run.parent_id:
            attributes["runlog.parent_run_id"] = run.parent_id
        if run.record.get("host"):
            attributes["host.name"] = str(run.record["host"])
        return attributes

    def send_metrics(self, events: Sequence[MetricEvent]) -> None:
        """Numeric values as gauge points, at their stored times (requests of at most 1000 points)."""
        points = [p for event in events for p in _points(event)]
        for start in range(0, len(points), MAX_RECORDS):
            chunk = points[start : start + MAX_RECORDS]
            body = self._metrics_request(chunk).SerializeToString()
            self._call(lambda body=body: self._post("metrics", body), f"send {len(chunk)} OTLP metric point(s)")  # type: ignore[misc]

    def _metrics_request(self, points: list[tuple[str, int | float, int, int]]) -> ExportMetricsServiceRequest:
        series: dict[str, list[NumberDataPoint]] = {}
        units: dict[str, str] = {}
        for name, value, ns, step in points:
            attributes: dict[str, str] = {}
            if name.startswith(SYSTEM_PREFIX):
                mapped = semconv_point(name, value, self._cpus)
                if mapped is not None:
                    name, value, units[mapped[0]], attributes = mapped
            point = NumberDataPoint(time_unix_nano=ns)
            if isinstance(value, int) and _INT64[0] <= value <= _INT64[1]:
                point.as_int = value
            else:
                point.as_double = float(value)
            point.attributes.extend(_kv(k, v) for k, v in attributes.items())
            if self.step_attribute:
                point.attributes.append(_kv("runlog.step", step))
            series.setdefault(name, []).append(point)
        return ExportMetricsServiceRequest(
            resource_metrics=[
                ResourceMetrics(
                    resource=self._resource,
                    scope_metrics=[
                        ScopeMetrics(
                            scope=InstrumentationScope(name=SCOPE),
                            metrics=[Metric(name=n, unit=units.get(n, ""), gauge=Gauge(data_points=p)) for n, p in series.items()],
                        )
                    ],
                )
            ]
        )

    def send_meta(self, events: Sequence[MetaEvent]) -> None:
        """Tags, properties and names have no OTLP counterpart: nothing is sent (they stay in the store)."""

    def send_file(self, name: str, path: Path) -> None:
        """New whole lines of a driver log (``logs/driver_log*.txt``) as log records; other files are not sent.

        runlog's own system logs (``logs/runlog_system.txt``, ``logs/supervisor_log.txt``) are
        not sent: they hold the uploader's diagnostics, and sending them would feed them.
        """
        if not is_driver_log(name):
            return
        logs: dict[str, list[int]] = self._state.setdefault("logs", {})
        offset, seq = logs.get(name, [0, 0])
        try:
            if path.stat().st_size < offset:
                # The file was replaced (removed and written again): its lines are new ones.
                # Numbering goes on, so identities stay unique.
                _log.debug("%s is shorter than what was sent: sending it from its start", name)
                offset = 0
        except OSError:
            return
        start_position = [offset, seq]
        call = _LogCall()
        try:
            while data := _read_whole_lines(path, offset, self.options.read_chunk):
                groups = group_lines(data.split(b"\n")[:-1])
                start = 0
                while start < len(groups):
                    end, size = start, 0
                    while end < len(groups) and end - start < MAX_RECORDS and (size < MAX_REQUEST_BYTES or end == start):
                        size += sum(len(line) + 1 for line in groups[end])
                        end += 1
                    offset, seq = self._send_groups(name, groups[start:end], offset, seq, call)
                    start = end
            if call.undecided:  # only refusals, too few to tell: the endpoint's, until a line gets through
                raise call.undecided[0][2]
        except BaseException as exc:
            if not call.accepted:  # nothing of it got through: nothing is skipped, the position stays
                logs[name] = start_position
                if isinstance(exc, UploadRejected) and exc.status in CONTENT_REFUSALS:
                    exc.retry_later = True  # type: ignore[attr-defined]  # (see Uploader._send_files)
            raise

    def _send_groups(self, name: str, groups: list[list[bytes]], offset: int, seq: int, call: _LogCall) -> tuple[int, int]:
        """Send the lines ``groups`` (starting at byte ``offset``, numbered from ``seq``); the position after them.

        A request refused for its content (400, 413, 422) is split in halves until the refused
        line (a group: a record and its continuation lines) is alone. Once a line of this log
        has got through, such a line is skipped and set aside (the dead-letter file names its
        bytes), so one bad line does not block the rest. Until then a refusal may be the
        endpoint's (every request refused): after three, the call stops with nothing skipped.
        Other refusals (credentials, endpoint) stop the upload with the position kept.
        """
        size = sum(len(line) + 1 for group in groups for line in group)
        count = sum(len(group) for group in groups)
        body = self._log_request(name, groups, seq).SerializeToString()
        try:
            self._call(lambda: self._post("logs", body), f"send {count} line(s) of {name}")
        except UploadRejected as exc:
            if exc.status not in CONTENT_REFUSALS:
                raise
            if len(groups) > 1:
                mid = len(groups) // 2
                offset, seq = self._send_groups(name, groups[:mid], offset, seq, call)
                return self._send_groups(name, groups[mid:], offset, seq, call)
            if call.accepted:
                self._set_aside_line(name, offset, size, exc)
            else:
                call.undecided.append((offset, offset + size, exc))
                if len(call.undecided) >= _UNDECIDED_LIMIT:
                    raise UploadRejected(
                        f"the endpoint refused every request of {name} so far ({exc}); nothing was skipped",
                        status=exc.status, code=exc.code, hint=exc.hint,
                    ) from exc  # fmt: skip
        else:
            if not call.accepted:
                call.accepted = True
                for start, stop, refusal in call.undecided:  # refused for their content after all
                    self._set_aside_line(name, start, stop - start, refusal)
                call.undecided.clear()
        # Acknowledged (or set aside): the position moves, and is saved with the cursor at once.
        offset, seq = offset + size, seq + count
        self._state.setdefault("logs", {})[name] = [offset, seq]
        if self.checkpoint is not None:
            self.checkpoint()
        return offset, seq

    def _set_aside_line(self, name: str, offset: int, size: int, exc: UploadRejected) -> None:
        where = f"{name} bytes {offset}-{offset + size}"
        if self.set_aside is not None:
            self.set_aside("logs", [where], UploadRejected(f"a line of {where} was refused and skipped: {exc}", status=exc.status, code=exc.code, hint=exc.hint))
        else:
            _log.warning("OTLP: a line of %s was refused and skipped: %s", where, exc)

    def flush(self, final: bool) -> None:
        """Nothing is derived from several events."""

    def finish(self, status: str, end_time: float | None) -> None:
        """One log record saying how the run ended."""
        run_id = self._run.run_id if self._run is not None else "?"
        ns = int((end_time or time.time()) * 1e9)
        record = LogRecord(
            time_unix_nano=ns,
            observed_time_unix_nano=ns,
            severity_text="ERROR" if status == "Failed" else "INFO",
            severity_number=17 if status == "Failed" else 9,  # type: ignore[arg-type]
            body=_any(f"run {run_id} {status}"),
            attributes=[_kv("runlog.status", status), _kv("runlog.event", "status")],
        )
        request = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    resource=self._resource,
                    scope_logs=[ScopeLogs(scope=InstrumentationScope(name=SCOPE), log_records=[record])],
                )
            ]
        )
        self._call(lambda: self._post("logs", request.SerializeToString()), f"send status {status}")

    def close(self) -> None:
        """Nothing to release: each request has its own connection."""

    # -- requests ------------------------------------------------------------------------------------

    def _log_request(self, name: str, groups: list[list[bytes]], first_seq: int) -> ExportLogsServiceRequest:
        scopes: dict[str, list[LogRecord]] = {}
        observed = time.time_ns()
        seq = first_seq
        for group in groups:
            text = group[0].decode("utf-8", "replace").rstrip("\r")
            ns, level, number, logger, body, extra, trace_id, span_id = parse_line(text)
            if len(group) > 1:
                rest = b"\n".join(group[1:]).decode("utf-8", "replace").replace("\r\n", "\n")
                body = f"{body if isinstance(body, str) else json.dumps(body, default=repr)}\n{rest}"
            record = LogRecord(
                time_unix_nano=ns,
                observed_time_unix_nano=observed,
                severity_text=level,
                severity_number=number,  # type: ignore[arg-type]
                body=_any(body),
                trace_id=trace_id,
                span_id=span_id,
            )
            record.attributes.extend(_kv(k, v) for k, v in extra.items())
            record.attributes.append(_kv("runlog.log", name))
            record.attributes.append(_kv("runlog.seq", seq))
            if len(group) > 1:
                record.attributes.append(_kv("runlog.lines", len(group)))
            seq += len(group)
            scopes.setdefault(logger or SCOPE, []).append(record)
        return ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    resource=self._resource,
                    scope_logs=[ScopeLogs(scope=InstrumentationScope(name=s), log_records=r) for s, r in scopes.items()],
                )
            ]
        )

    def _post(self, signal: str, body: bytes) -> None:
        url = self.config.logs_url if signal == "logs" else self.config.metrics_url
        headers = {"Content-Type": "application/x-protobuf", "User-Agent": "runlog-otlp", **self.config.headers[signal]}
        if self.config.compression[signal] == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        where = redact(url)
        try:
            with _opener.open(request, timeout=self.config.timeout[signal]) as response:
                answer = response.read()
                content_type = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            text = _read_error(exc)
            raise _error(exc.code, exc.headers, text, signal, where) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UploadUnavailable(f"{where}: {reason}") from exc
        except http.client.HTTPException as exc:  # e.g. an answer cut short (IncompleteRead): worth retrying
            raise UploadUnavailable(f"{where}: {type(exc).__name__}") from exc
        self._check_partial_success(signal, answer, content_type, where)

    def _check_partial_success(self, signal: str, answer: bytes, content_type: str, where: str) -> None:
        if not answer or "protobuf" not in content_type:
            return
        try:
            if signal == "logs":
                logs_response = ExportLogsServiceResponse.FromString(answer)
                rejected, message = logs_response.partial_success.rejected_log_records, logs_response.partial_success.error_message
            else:
                metrics_response = ExportMetricsServiceResponse.FromString(answer)
                rejected = metrics_response.partial_success.rejected_data_points
                message = metrics_response.partial_success.error_message
        except Exception:  # an unreadable 2xx body: the data was accepted
            return
        if rejected:
            # The spec: a partial success must not be retried. Say so, a few times.
            self._rejected_warnings += 1
            _log.log(
                logging.WARNING if self._rejected_warnings <= 5 else logging.DEBUG,
                "%s accepted the request but rejected %d %s (%s); they are kept in the local store only",
                where, rejected, "log record(s)" if signal == "logs" else "metric point(s)", message or "no reason given",
            )  # fmt: skip


def _read_error(exc: urllib.error.HTTPError) -> str:
    """The text of an error answer (empty for a protobuf ``google.rpc.Status``, which is binary)."""
    try:
        if "protobuf" in (exc.headers.get("Content-Type") or ""):
            return ""
        return exc.read()[:2000].decode("utf-8", "replace")
    except Exception:
        return ""
    finally:
        exc.close()


_UNDECIDED_LIMIT = 3  # refused lines before any got through: then it is the endpoint refusing


class _LogCall:
    """What one send_file call has seen: whether a line got through, refusals not yet judged."""

    def __init__(self) -> None:
        self.accepted = False
        self.undecided: list[tuple[int, int, UploadRejected]] = []


def _error(status: int, headers: Any, body: str, signal: str, where: str) -> UploadError:
    """``_retry.error_for_response`` decides what is retryable; a refusal gets an OTLP-specific hint."""
    error = error_for_response(status, headers, body, what=f"OTLP {signal}", where=where)
    if not isinstance(error, UploadRejected):
        return error
    if 300 <= status < 400:
        location = headers.get("Location") if headers is not None else None
        to = f" to {redact(urllib.parse.urljoin(where, location))}" if location else ""
        hint = f"the endpoint redirects{to}: set OTEL_EXPORTER_OTLP_ENDPOINT (or the endpoint passed) to the final address"
    elif status in (401, 403):
        hint = "check the credentials (the authorization header in OTEL_EXPORTER_OTLP_HEADERS, its value URL-encoded: Bearer%20<token>)"
    elif status == 404:
        hint = "check the endpoint: OTEL_EXPORTER_OTLP_ENDPOINT is the base URL (http://host:4318), /v1/logs and /v1/metrics are appended"
    elif status == 413:
        hint = "the request is too large for the endpoint or a proxy in front of it; raise its body size limit"
    elif status == 415:
        hint = "the endpoint does not take OTLP protobuf over HTTP; point it at an OTLP/HTTP receiver (port 4318)"
    else:
        hint = "the endpoint refused this data as invalid; it is kept in the dead-letter file next to the upload cursor"
    return UploadRejected(f"{where}: {error}", status=status, code=error.code, hint=hint)


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    return None


# runlog's system metric (without "system/") -> (OpenTelemetry name, unit, factor, attributes). The
# names are the semantic conventions' (system.*, process.*, hw.* for GPUs); ratios are 0..1 and
# sizes bytes, as they define them. Names without a convention (power as % of the limit, the
# process count) keep runlog's name.
_SEMCONV: dict[str, tuple[str, str, float, dict[str, str]]] = {
    "cpu_utilization_percentage": ("system.cpu.utilization", "1", 0.01, {}),
    "system_memory_usage_megabytes": ("system.memory.usage", "By", 1e6, {"system.memory.state": "used"}),
    "system_memory_usage_percentage": ("system.memory.utilization", "1", 0.01, {"system.memory.state": "used"}),
    "disk_usage_megabytes": ("system.filesystem.usage", "By", 1e6, {"system.filesystem.state": "used", "system.filesystem.mountpoint": "/"}),
    "disk_available_megabytes": ("system.filesystem.usage", "By", 1e6, {"system.filesystem.state": "free", "system.filesystem.mountpoint": "/"}),
    "disk_usage_percentage": ("system.filesystem.utilization", "1", 0.01, {"system.filesystem.state": "used", "system.filesystem.mountpoint": "/"}),
    "network_receive_megabytes": ("system.network.io", "By", 1e6, {"network.io.direction": "receive"}),
    "network_transmit_megabytes": ("system.network.io", "By", 1e6, {"network.io.direction": "transmit"}),
    "process_memory_rss_megabytes": ("process.memory.usage", "By", 1e6, {}),
    "gpu_utilization_percentage": ("hw.gpu.utilization", "1", 0.01, {}),
    "gpu_memory_usage_megabytes": ("hw.gpu.memory.usage", "By", 1e6, {}),
    "gpu_memory_usage_percentage": ("hw.gpu.memory.utilization", "1", 0.01, {}),
    "gpu_power_usage_watts": ("hw.power", "W", 1.0, {}),
    "gpu_temperature_celsius": ("hw.temperature", "Cel", 1.0, {}),
}
_GPU_NAME = re.compile(r"gpu_(\d+)_(.+)")


def semconv_point(name: str, value: float, cpus: int | None = None) -> tuple[str, float, str, dict[str, str]] | None:
    """``(OpenTelemetry name, value in its unit, unit, attributes)`` of a ``system/...`` value, or None.

    GPU values carry ``hw.id`` (``gpu_<i>``) and ``hw.type`` ``gpu``. The run's process-tree CPU
    becomes ``process.cpu.utilization`` (0..1 over every CPU) only when ``cpus`` (the sampling
    host's CPU count) is known; otherwise, and for names without a convention, None.
    """
    short = name[len(SYSTEM_PREFIX) :]
    attributes: dict[str, str] = {}
    gpu = _GPU_NAME.fullmatch(short)
    if gpu is not None:
        short = "gpu_" + gpu.group(2)
        attributes = {"hw.id": f"gpu_{gpu.group(1)}", "hw.type": "gpu"}
    if short == "process_cpu_utilization_percentage":
        if not cpus:
            return None
        return "process.cpu.utilization", value / 100 / cpus, "1", attributes
    mapped = _SEMCONV.get(short)
    if mapped is None:
        return None
    otel_name, unit, factor, extra = mapped
    return otel_name, value * factor, unit, {**extra, **attributes}


def _points(event: MetricEvent) -> list[tuple[str, int | float, int, int]]:
    """``(series name, value, time ns, step)`` of the numeric values of one metric event.

    The values of one list or table share the event's time: each gets ``+index`` ns, so that
    they stay distinct points of their series, identically on every re-send.
    """
    ns = int(event.time * 1e9)
    kind, value = event.kind, event.value
    out: list[tuple[str, int | float, int, int]] = []
    if kind == "s":
        number = _number(value)
        if number is not None:
            out.append((event.name, number, ns, event.seq))
    elif kind == "l" and isinstance(value, list):
        for i, item in enumerate(value):
            number = _number(item)
            if number is not None:
                out.append((event.name, number, ns + i, event.seq + i))
    elif kind in ("r", "t") and isinstance(value, dict):
        rows = [value] if kind == "r" else [
            {c: v[i] for c, v in value.items() if isinstance(v, list) and i < len(v)}
            for i in range(max((len(v) for v in value.values() if isinstance(v, list)), default=0))
        ]  # fmt: skip
        for i, row in enumerate(rows):
            for column, item in row.items():
                number = _number(item)
                if number is not None:
                    out.append((f"{event.name}.{column}", number, ns + i, event.seq + i))
    return out


def target_for_uri(uri: str, options: UploadOptions | None = None) -> OtlpTarget:
    """``otlp:`` (endpoint from the ``OTEL_EXPORTER_OTLP_*`` variables) or ``otlp+http(s)://host:port``."""
    if uri in ("otlp", "otlp:", "otlp://"):
        return OtlpTarget(options=options)
    if uri.startswith(("otlp+http://", "otlp+https://")):
        return OtlpTarget(uri[len("otlp+") :], options=options)
    raise ValueError(
        f"an OTLP tracking URI is 'otlp:' (endpoint from OTEL_EXPORTER_OTLP_ENDPOINT) or "
        f"'otlp+http://host:4318'; got {redact(uri.replace('otlp+', '', 1))!r}"
    )
