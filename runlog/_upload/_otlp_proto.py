"""The OTLP protobuf messages (opentelemetry-proto) and runlog values as OTLP ``AnyValue`` / ``KeyValue``.

The one place that imports ``opentelemetry-proto``: without it, importing any OTLP module says
which extra to install.
"""

from __future__ import annotations

import json
from typing import Any

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

__all__ = [
    "INT64",
    "SCOPE",
    "AnyValue",
    "ExportLogsServiceRequest",
    "ExportLogsServiceResponse",
    "ExportMetricsServiceRequest",
    "ExportMetricsServiceResponse",
    "Gauge",
    "InstrumentationScope",
    "KeyValue",
    "LogRecord",
    "Metric",
    "NumberDataPoint",
    "Resource",
    "ResourceLogs",
    "ResourceMetrics",
    "ScopeLogs",
    "ScopeMetrics",
    "any_value",
    "key_value",
]

SCOPE = "runlog"
INT64 = (-(2**63), 2**63 - 1)


def any_value(value: Any) -> AnyValue:
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if INT64[0] <= value <= INT64[1]:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=json.dumps(value, default=repr, ensure_ascii=False))


def key_value(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))
