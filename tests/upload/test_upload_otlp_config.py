"""runlog._upload._otlp_config: where and how the OTLP target sends (explicit values, OTEL_* variables, defaults)."""

from __future__ import annotations

import logging

import pytest

from runlog._upload._otlp_config import DEFAULT_ENDPOINT, OtlpConfig, parse_headers, redact, target_name
from runlog._upload.otlp import OtlpTarget


def test_per_signal_endpoints_and_explicit_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-signal variables are full URLs; explicit arguments win over the environment; bad values are named."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:9000/custom")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "a=1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
    config = OtlpConfig()
    assert config.logs_url == "http://base:4318/v1/logs"
    assert config.metrics_url == "http://metrics:9000/custom"
    assert config.headers["logs"] == {"a": "1"} and config.headers["metrics"] == {}
    assert config.timeout["logs"] == 2.5
    explicit = OtlpConfig("https://user:pw@collector:4318", headers={"X-Key": "k"}, timeout=1)
    assert explicit.logs_url == "https://collector:4318/v1/logs"  # the user info is an authorization header
    assert explicit.headers["metrics"] == {"x-key": "k", "authorization": "Basic dXNlcjpwdw=="}
    assert "pw" not in OtlpTarget("https://user:pw@collector:4318").endpoint
    with pytest.raises(ValueError, match="http:// or https://"):
        OtlpConfig("grpc://collector:4317")
    assert parse_headers("k%201=v%3D1, bad ,x=") == {"k 1": "v=1", "x": ""}


def test_a_header_value_with_a_newline_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A credential with a stray line break is trimmed at its ends and refused inside, naming the header, never its value."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr3t%0A")
    assert OtlpConfig("http://collector:4318").headers["logs"] == {"x-api-key": "s3cr3t"}
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr3t%0Ainside")
    with pytest.raises(ValueError, match="x-api-key") as info:
        OtlpTarget("http://collector:4318")
    assert "s3cr3t" not in str(info.value)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS")
    with pytest.raises(ValueError, match="authorization") as info:
        OtlpTarget("http://collector:4318", headers={"authorization": "Bearer s3cr3t\r\nx"})
    assert "s3cr3t" not in str(info.value)


def test_defaults_without_any_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "LOGS_ENDPOINT", "METRICS_ENDPOINT"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{name}", raising=False)
    config = OtlpConfig()
    assert (config.logs_url, config.metrics_url) == (f"{DEFAULT_ENDPOINT}/v1/logs", f"{DEFAULT_ENDPOINT}/v1/metrics")
    assert config.headers == {"logs": {}, "metrics": {}}
    assert config.timeout == {"logs": 10.0, "metrics": 10.0}
    assert config.compression == {"logs": "none", "metrics": "none"}


def test_per_signal_variables_win_over_the_general_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "250")
    config = OtlpConfig("http://c:4318")
    assert config.compression == {"logs": "gzip", "metrics": "none"}
    assert config.timeout == {"logs": 0.25, "metrics": 1.0}


def test_bad_compression_is_refused_and_a_bad_timeout_is_the_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="'gzip' or 'none'"):
        OtlpConfig("http://c:4318", compression="zstd")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "ten")
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    assert OtlpConfig("http://c:4318").timeout["logs"] == 10.0
    assert "not a number of milliseconds" in caplog.text


def test_a_malformed_header_entry_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="runlog.upload")
    assert parse_headers("novalue,=x,Api-Key=%20k%20") == {"api-key": "k"}
    assert caplog.text.count("malformed OTLP header") == 2
    assert parse_headers(None) == {} and parse_headers("") == {}


def test_redact_drops_credentials_query_and_fragment() -> None:
    assert redact("https://user:pw@host:4318/v1/logs?key=s3cr3t#x") == "https://***@host:4318/v1/logs"
    assert redact("http://host/v1/metrics") == "http://host/v1/metrics"


def test_the_cursor_name_depends_on_the_urls_not_on_the_credentials() -> None:
    name = target_name(OtlpConfig("http://collector:4318"))
    assert name.startswith("otlp-") and len(name) == len("otlp-") + 8
    assert target_name(OtlpConfig("http://u:p@collector:4318")) == name
    assert target_name(OtlpConfig("http://collector:4319")) != name
