"""runlog.ui.downsample: min/max downsampling of long series for charts."""

from __future__ import annotations

import math

import pytest

from runlog.ui.downsample import minmax_downsample


def test_minmax_downsample_edges() -> None:
    """Short series pass through; NaN becomes None; the output keeps bucket min/max in x order."""
    assert minmax_downsample([1, 2, 3], [1.0, float("nan"), 3.0], 10) == ([1, 2, 3], [1.0, None, 3.0])
    xs = list(range(100))
    ys = [0.0] * 100
    ys[10], ys[11] = 5.0, -5.0
    out_x, out_y = minmax_downsample(xs, ys, 10)
    assert len(out_x) <= 10 and out_x == sorted(out_x)
    assert (10, 5.0) in zip(out_x, out_y) and (11, -5.0) in zip(out_x, out_y)
    with pytest.raises(ValueError, match="same length"):
        minmax_downsample([1, 2], [1.0], 10)


def test_the_first_and_last_points_are_always_kept_and_nothing_is_invented() -> None:
    xs = [float(i) for i in range(1000)]
    ys = [math.sin(i / 7) for i in range(1000)]
    out_x, out_y = minmax_downsample(xs, ys, 100)
    assert len(out_x) == len(out_y) <= 100
    assert (out_x[0], out_y[0], out_x[-1], out_y[-1]) == (0.0, ys[0], 999.0, ys[-1])
    assert all(ys[int(x)] == y for x, y in zip(out_x, out_y))  # every point is one of the series
    assert min(out_y) == min(ys) and max(out_y) == max(ys)  # type: ignore[type-var]


def test_a_bucket_of_gaps_is_one_gap_and_a_flat_bucket_one_point() -> None:
    n = 102
    xs = list(range(n))
    ys = [float("nan")] * n
    ys[0] = ys[-1] = 1.0
    out_x, out_y = minmax_downsample(xs, ys, 10)
    assert out_y[0] == out_y[-1] == 1.0 and all(y is None for y in out_y[1:-1])
    assert len(out_x) == 2 + (10 - 2) // 2  # one point per all-NaN bucket
    flat_x, flat_y = minmax_downsample(xs, [2.0] * n, 10)
    assert flat_y == [2.0] * len(flat_x) and len(flat_x) == 6


def test_too_few_points_asked_returns_the_series_whole() -> None:
    xs, ys = list(range(50)), [float(i) for i in range(50)]
    assert minmax_downsample(xs, ys, 3) == (xs, ys)
    assert minmax_downsample(xs, ys, 50) == (xs, ys)
