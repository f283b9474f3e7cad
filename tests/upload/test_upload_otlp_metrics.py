"""runlog._upload._otlp_metrics: metric events as OTLP gauge points, system metrics under the semantic conventions."""

from __future__ import annotations

import pytest

from runlog._upload._otlp_metrics import event_points, metrics_request, semconv_point
from runlog._upload._otlp_proto import Resource
from runlog._upload._target import MetricEvent


def event(kind: str, value: object, seq: int = 0, name: str = "m") -> MetricEvent:
    return MetricEvent(kind, name, value, None, 2.0, seq, "p.metrics.jsonl")


def test_system_values_take_the_convention_name_unit_and_scale() -> None:
    assert semconv_point("system/cpu_utilization_percentage", 50.0) == ("system.cpu.utilization", 0.5, "1", {})
    assert semconv_point("system/network_receive_megabytes", 2.0) == (
        "system.network.io", 2e6, "By", {"network.io.direction": "receive"}
    )  # fmt: skip
    name, value, unit, attributes = semconv_point("system/gpu_1_memory_usage_megabytes", 3.0)  # type: ignore[misc]
    assert (name, value, unit) == ("hw.gpu.memory.usage", 3e6, "By")
    assert attributes == {"hw.id": "gpu_1", "hw.type": "gpu"}


def test_process_cpu_needs_the_cpu_count_and_unknown_names_keep_theirs() -> None:
    assert semconv_point("system/process_cpu_utilization_percentage", 400.0) is None
    assert semconv_point("system/process_cpu_utilization_percentage", 400.0, cpus=8) == (
        "process.cpu.utilization",
        0.5,
        "1",
        {},
    )
    assert semconv_point("system/gpu_0_power_usage_percentage", 10.0) is None
    assert semconv_point("system/process_count", 3.0) is None


def test_numeric_values_of_every_kind_become_points() -> None:
    ns = 2_000_000_000
    assert event_points(event("s", 1.5, seq=4)) == [("m", 1.5, ns, 4)]
    assert event_points(event("s", True)) == [("m", 1, ns, 0)]
    assert event_points(event("s", "text")) == [] and event_points(event("i", "a.png")) == []
    assert event_points(event("l", [1.0, "x", 3], seq=10)) == [("m", 1.0, ns, 10), ("m", 3, ns + 2, 12)]
    assert event_points(event("r", {"acc": 0.9, "split": "val"}, seq=2)) == [("m.acc", 0.9, ns, 2)]
    table = event_points(event("t", {"x": [1, 2], "y": [3.0], "s": ["a", "b"]}, seq=5))
    assert table == [("m.x", 1, ns, 5), ("m.y", 3.0, ns, 5), ("m.x", 2, ns + 1, 6)]


def test_a_request_holds_one_gauge_per_series_with_its_unit() -> None:
    points = [
        ("loss", 0.5, 10, 0),
        ("loss", 7, 20, 1),
        ("system/cpu_utilization_percentage", 25.0, 30, 0),
        ("big", 2**70, 40, 0),
    ]
    request = metrics_request(Resource(), points, cpus=None, step_attribute=True)
    (scope,) = request.resource_metrics[0].scope_metrics
    metrics = {m.name: m for m in scope.metrics}
    assert list(metrics) == ["loss", "system.cpu.utilization", "big"]
    loss = list(metrics["loss"].gauge.data_points)
    assert [p.WhichOneof("value") for p in loss] == ["as_double", "as_int"] and loss[1].as_int == 7
    assert [p.attributes[0].value.int_value for p in loss] == [0, 1]  # runlog.step
    cpu = metrics["system.cpu.utilization"]
    assert cpu.unit == "1" and cpu.gauge.data_points[0].as_double == pytest.approx(0.25)
    assert metrics["big"].gauge.data_points[0].as_double == float(2**70)  # beyond int64: a double
    plain = metrics_request(Resource(), points[:1], cpus=None, step_attribute=False)
    assert list(plain.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].attributes) == []
