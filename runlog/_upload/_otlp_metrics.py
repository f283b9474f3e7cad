"""Metric events as OTLP gauge points, system metrics under OpenTelemetry's semantic conventions.

:func:`event_points` turns one stored metric event into ``(series, value, time ns, step)``
points (scalars, list elements, numeric row and table columns); :func:`semconv_point` maps a
``system/...`` value to its semantic-convention name, unit and attributes; :func:`metrics_request`
makes the ``ExportMetricsServiceRequest`` of a list of points.
"""

from __future__ import annotations

import re
from typing import Any

from .._model.metrics import SYSTEM_PREFIX
from ._otlp_proto import (
    INT64,
    SCOPE,
    ExportMetricsServiceRequest,
    Gauge,
    InstrumentationScope,
    Metric,
    NumberDataPoint,
    Resource,
    ResourceMetrics,
    ScopeMetrics,
    key_value,
)
from ._target import MetricEvent

__all__ = ["event_points", "metrics_request", "semconv_point"]


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


def event_points(event: MetricEvent) -> list[tuple[str, int | float, int, int]]:
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



def metrics_request(
    resource: Resource, points: list[tuple[str, int | float, int, int]], cpus: int | None, step_attribute: bool
) -> ExportMetricsServiceRequest:
    """The request holding ``points``: one gauge per series, ``runlog.step`` on each point when ``step_attribute``.

    ``cpus`` is the sampling host's CPU count when known (see :func:`semconv_point`).
    """
    series: dict[str, list[NumberDataPoint]] = {}
    units: dict[str, str] = {}
    for name, value, ns, step in points:
        attributes: dict[str, str] = {}
        if name.startswith(SYSTEM_PREFIX):
            mapped = semconv_point(name, value, cpus)
            if mapped is not None:
                name, value, units[mapped[0]], attributes = mapped
        point = NumberDataPoint(time_unix_nano=ns)
        if isinstance(value, int) and INT64[0] <= value <= INT64[1]:
            point.as_int = value
        else:
            point.as_double = float(value)
        point.attributes.extend(key_value(k, v) for k, v in attributes.items())
        if step_attribute:
            point.attributes.append(key_value("runlog.step", step))
        series.setdefault(name, []).append(point)
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=resource,
                scope_metrics=[
                    ScopeMetrics(
                        scope=InstrumentationScope(name=SCOPE),
                        metrics=[Metric(name=n, unit=units.get(n, ""), gauge=Gauge(data_points=p)) for n, p in series.items()],
                    )
                ],
            )
        ]
    )
