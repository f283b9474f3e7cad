"""Where and how the OTLP target sends: endpoints, headers, timeout and compression.

Explicit values win, then the OpenTelemetry exporter variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``..._HEADERS``, ``..._TIMEOUT``, ``..._COMPRESSION`` and their ``..._LOGS_*`` /
``..._METRICS_*`` variants, with the specification's precedence), then defaults. Credentials
never appear in messages, logs or the cursor (:func:`redact`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import urllib.parse
from collections.abc import Mapping

__all__ = ["DEFAULT_ENDPOINT", "OtlpConfig", "parse_headers", "redact", "target_name"]

_log = logging.getLogger("runlog.upload")

DEFAULT_ENDPOINT = "http://localhost:4318"


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
