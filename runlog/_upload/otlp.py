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

This module is the target itself (requests, log batching, refusals); the configuration is in
``_otlp_config``, the log-record and metric-point encodings in ``_otlp_logs`` and
``_otlp_metrics``, the protobuf messages in ``_otlp_proto``.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import UploadError, UploadRejected, UploadUnavailable
from ._otlp_config import OtlpConfig, parse_headers, redact, target_name
from ._otlp_logs import group_lines, is_driver_log, log_request, parse_line, status_request
from ._otlp_metrics import event_points, metrics_request, semconv_point
from ._otlp_proto import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    Resource,
    key_value,
)
from ._reading import read_whole_lines
from ._retry import UploadOptions, error_for_response
from ._target import CONTENT_REFUSALS, MetaEvent, MetricEvent, RunInfo

__all__ = [
    "OtlpConfig",
    "OtlpTarget",
    "group_lines",
    "parse_headers",
    "parse_line",
    "semconv_point",
    "target_for_uri",
    "target_name",
]

_log = logging.getLogger("runlog.upload")

MAX_RECORDS = 1000  # log records or metric points per request
MAX_REQUEST_BYTES = 1_000_000


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not an acknowledgement: urllib would turn the POST into a GET of the
    new address (with the headers, i.e. the credentials) and take that GET's 200 for success."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


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
        self._resource = Resource(attributes=[key_value(k, v) for k, v in self._resource_attributes(run).items()])
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
        points = [p for event in events for p in event_points(event)]
        for start in range(0, len(points), MAX_RECORDS):
            chunk = points[start : start + MAX_RECORDS]
            body = self._metrics_request(chunk).SerializeToString()
            self._call(lambda body=body: self._post("metrics", body), f"send {len(chunk)} OTLP metric point(s)")  # type: ignore[misc]

    def _metrics_request(self, points: list[tuple[str, int | float, int, int]]) -> ExportMetricsServiceRequest:
        return metrics_request(self._resource, points, self._cpus, self.step_attribute)

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
            while data := read_whole_lines(path, offset, self.options.read_chunk):
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
        request = status_request(self._resource, run_id, status, end_time)
        self._call(lambda: self._post("logs", request.SerializeToString()), f"send status {status}")

    def close(self) -> None:
        """Nothing to release: each request has its own connection."""

    # -- requests ------------------------------------------------------------------------------------

    def _log_request(self, name: str, groups: list[list[bytes]], first_seq: int) -> ExportLogsServiceRequest:
        return log_request(self._resource, name, groups, first_seq)

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
