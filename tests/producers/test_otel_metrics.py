"""Tests of runlog._otel.metrics: RunMetricExporter turns metric points into a run's series."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExportResult
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from otel_helpers import Providers

import runlog
from runlog import otel
from runlog._otel import metrics as otel_metrics
from runlog.otel import RunMetricExporter


def test_series_name_scheme() -> None:
    """Attributes are sorted by key into name{key=value,...}; suffixes go before the braces."""
    assert otel.series_name("loss", None) == "loss"
    assert otel.series_name("rps", {"z": 1, "a": True}, "sum") == "rps.sum{a=true,z=1}"
    assert otel.series_name("x", {"tags": ("a", "b")}) == "x{tags=[a,b]}"


def test_every_instrument_kind(run: runlog.Run, providers: Providers) -> None:
    """Counters, up-down counters, gauges, histograms and the observable ones become series, attributes in the name."""
    exporter = RunMetricExporter()
    meter_provider, _ = providers.metrics(exporter)
    meter = meter_provider.get_meter("test")
    counter = meter.create_counter("requests")
    updown = meter.create_up_down_counter("queue")
    gauge = meter.create_gauge("temperature")
    histogram = meter.create_histogram("latency", explicit_bucket_boundaries_advisory=[10.0, 100.0])
    meter.create_observable_counter("cpu_seconds", callbacks=[lambda _opts: [_observation(7.5)]])
    meter.create_observable_up_down_counter("threads", callbacks=[lambda _opts: [_observation(3, {"pool": "io"})]])
    meter.create_observable_gauge("memory", callbacks=[lambda _opts: [_observation(512)]])
    counter.add(2, {"route": "/b", "code": 200})
    counter.add(1, {"code": 200, "route": "/b"})
    updown.add(5)
    updown.add(-2)
    gauge.set(21.5)
    for value in (5, 50, 500):
        histogram.record(value)
    assert meter_provider.force_flush()
    counter.add(4, {"route": "/b", "code": 200})
    histogram.record(1)
    gauge.set(22.0)  # (SDKs before 1.4x report a synchronous gauge only in intervals where it was set)
    assert meter_provider.force_flush()

    def series(name: str) -> list[tuple[Any, Any]]:
        return [(p.value, p.step) for p in run.get_metric_history(name)]

    assert series("requests{code=200,route=/b}") == [(3, 0), (7, 1)]  # cumulative: the running total
    assert series("queue") == [(3, 0), (3, 1)]
    assert series("temperature") == [(21.5, 0), (22.0, 1)]
    assert series("cpu_seconds") == [(7.5, 0), (7.5, 1)]
    assert series("threads{pool=io}") == [(3, 0), (3, 1)]
    assert series("memory") == [(512, 0), (512, 1)]
    assert series("latency.count") == [(3, 0), (4, 1)]
    assert series("latency.sum") == [(555, 0), (556, 1)]
    assert series("latency.min") == [(5, 0), (1, 1)]
    assert series("latency.max") == [(500, 0), (500, 1)]
    buckets = run.get_metrics("latency.buckets")["latency.buckets"]
    assert buckets == {
        "step": [0, 0, 0, 1, 1, 1],
        "le": [10.0, 100.0, float("inf"), 10.0, 100.0, float("inf")],
        "count": [1, 1, 1, 2, 1, 1],
    }


def _observation(value: float, attributes: dict[str, Any] | None = None) -> Any:
    from opentelemetry.metrics import Observation

    return Observation(value, attributes)


def test_metric_exporter_declares_temporality_and_delta_option(run: runlog.Run, providers: Providers) -> None:
    """Cumulative is declared for every instrument kind; preferred_temporality=DELTA logs per-export increments."""
    from opentelemetry.sdk.metrics import Counter

    assert set(RunMetricExporter()._preferred_temporality.values()) == {AggregationTemporality.CUMULATIVE}
    exporter = RunMetricExporter(preferred_temporality={Counter: AggregationTemporality.DELTA}, export_step=False)
    meter_provider, _ = providers.metrics(exporter)
    counter = meter_provider.get_meter("t").create_counter("tokens")
    counter.add(10)
    meter_provider.force_flush()
    counter.add(5)
    meter_provider.force_flush()
    assert [(p.value, p.step) for p in run.get_metric_history("tokens")] == [(10, None), (5, None)]


def test_exponential_histogram(run: runlog.Run, providers: Providers) -> None:
    """An exponential-bucket histogram gives count/sum/min/max and bucket upper bounds that contain each value."""
    view = View(instrument_name="size", aggregation=ExponentialBucketHistogramAggregation(max_size=20))
    meter_provider, _ = providers.metrics(RunMetricExporter(), views=(view,))
    histogram = meter_provider.get_meter("t").create_histogram("size")
    for value in (1.5, 3.0, 3.0, 100.0):
        histogram.record(value)
    meter_provider.force_flush()
    metrics = run.get_metrics()
    assert metrics["size.count"] == 4 and metrics["size.sum"] == 107.5
    assert metrics["size.min"] == 1.5 and metrics["size.max"] == 100.0
    table = metrics["size.buckets"]
    assert sum(table["count"]) == 4
    assert table["le"] == sorted(table["le"])
    counted = [le for le, n in zip(table["le"], table["count"]) if n]
    assert counted[0] >= 1.5 and counted[-1] >= 100.0 and counted[-1] < 200.0


def test_metric_exporter_timeouts_and_reader_shutdown(run: runlog.Run, providers: Providers) -> None:
    """force_flush/export give up after their timeout while an export holds the lock; the reader's shutdown(timeout=) works."""
    exporter = RunMetricExporter()
    exporter._lock.acquire()
    try:
        assert exporter.force_flush(timeout_millis=20) is False
        from opentelemetry.sdk.metrics.export import MetricsData

        assert exporter.export(MetricsData(resource_metrics=[]), timeout_millis=20) is MetricExportResult.FAILURE
    finally:
        exporter._lock.release()
    meter_provider, reader = providers.metrics(exporter)
    meter_provider.get_meter("t").create_counter("c").add(1)
    reader.shutdown(timeout_millis=5_000)  # calls exporter.shutdown(timeout=...) after a last collection
    assert run.get_metrics()["c"] == 1
    assert exporter._shutdown


def test_labels_of_bools_and_nested_sequences() -> None:
    assert otel.series_name("x", {"flags": (True, [1, False])}) == "x{flags=[true,[1,false]]}"
    assert otel.series_name("x", {}, "sum") == "x.sum"  # no attributes: no braces


def test_exponential_buckets_ascend_from_the_negative_through_zero_to_the_positive() -> None:
    """Scale 0 is base 2: positive bucket k covers (2**k, 2**(k+1)], negative bucket k [-2**(k+1), -2**k)."""
    point = SimpleNamespace(
        scale=0,
        zero_count=4,
        positive=SimpleNamespace(offset=0, bucket_counts=[1, 2]),
        negative=SimpleNamespace(offset=1, bucket_counts=[3, 5]),
    )
    bounds, counts = otel_metrics._exponential_buckets(point)
    assert bounds == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert counts == [5, 3, 4, 1, 2]


def test_an_empty_histograms_infinite_min_and_max_are_none() -> None:
    assert otel_metrics._finite_or_none(float("inf")) is None and otel_metrics._finite_or_none(-math.inf) is None
    assert otel_metrics._finite_or_none(2.5) == 2.5 and otel_metrics._finite_or_none(3) == 3


def test_a_point_type_of_a_newer_sdk_keeps_its_value() -> None:
    scalars: dict[str, Any] = {}
    tables: list[Any] = []
    RunMetricExporter._point("future", SimpleNamespace(attributes={"k": 1}, value=9), 0, scalars, tables)
    RunMetricExporter._point("novalue", SimpleNamespace(attributes=None), 0, scalars, tables)
    assert scalars == {"future{k=1}": 9} and tables == []


def test_without_a_run_an_export_fails_and_takes_no_step(exp: runlog.Experiment, providers: Providers) -> None:
    exporter = RunMetricExporter()
    meter_provider, _ = providers.metrics(exporter)
    counter = meter_provider.get_meter("t").create_counter("items")
    counter.add(1)
    meter_provider.force_flush()  # no active run: the export fails, writes nothing
    run = exp.start_logging()
    counter.add(1)
    assert meter_provider.force_flush()
    assert [(p.value, p.step) for p in run.get_metric_history("items")] == [(2, 0)]


def test_an_exporter_bound_to_a_run_writes_there_while_another_is_active(
    exp: runlog.Experiment, providers: Providers
) -> None:
    target = exp.start_logging()
    other = exp.start_logging()
    meter_provider, _ = providers.metrics(RunMetricExporter(run=target))
    meter_provider.get_meter("t").create_gauge("temp").set(20.5)
    assert meter_provider.force_flush()
    assert target.get_metrics() == {"temp": 20.5} and other.get_metrics() == {}


def test_shutdown_takes_the_readers_timeout_and_stops_exports(run: runlog.Run) -> None:
    from opentelemetry.sdk.metrics.export import MetricsData

    exporter = RunMetricExporter()
    exporter.shutdown(timeout=5)  # (PeriodicExportingMetricReader's keyword)
    assert exporter.export(MetricsData(resource_metrics=[])) is MetricExportResult.FAILURE
