"""Server-side downsampling of long metric series for charts.

A chart is a few hundred to a few thousand pixels wide: sending it 1,000,000
points wastes time in JSON and in the browser. :func:`minmax_downsample` keeps,
for each of ``points // 2`` equal buckets of consecutive points, the smallest
and the largest value in their original order (the "M4"/min-max family): every
spike and dip of the full series stays visible, which a plain stride or a mean
would hide. The first and last points are always kept.

Pure Python on :class:`array.array` slices: ``min``/``max``/``index`` over a
slice run in C, so a 1,000,000-point series reduces in tens of milliseconds
without numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["minmax_downsample"]


def minmax_downsample(
    xs: Sequence[float], ys: Sequence[float], points: int
) -> tuple[list[float], list[float | None]]:
    """Reduce ``(xs, ys)`` to at most about ``points`` points, keeping each bucket's min and max.

    ``ys`` may hold NaN (a gap); NaN becomes ``None`` in the result (JSON ``null``).
    Series no longer than ``points`` come back whole.
    """
    n = len(xs)
    if n != len(ys):
        raise ValueError(f"xs and ys must have the same length; got {n} and {len(ys)}")
    if n <= points or points < 4:
        return list(xs), [None if y != y else y for y in ys]
    buckets = max(1, (points - 2) // 2)
    size = (n - 2) / buckets
    out_x: list[float] = [xs[0]]
    out_y: list[float | None] = [_clean(ys[0])]
    for b in range(buckets):
        start = 1 + int(b * size)
        end = 1 + int((b + 1) * size) if b < buckets - 1 else n - 1
        if end <= start:
            continue
        chunk = ys[start:end]
        finite = [y for y in chunk if y == y] if _has_nan(chunk) else chunk
        if not finite:
            out_x.append(xs[start])
            out_y.append(None)
            continue
        lo, hi = min(finite), max(finite)
        i_lo = start + _index(chunk, lo)
        i_hi = start + _index(chunk, hi)
        if i_lo == i_hi:
            out_x.append(xs[i_lo])
            out_y.append(ys[i_lo])
        elif i_lo < i_hi:
            out_x += (xs[i_lo], xs[i_hi])
            out_y += (ys[i_lo], ys[i_hi])
        else:
            out_x += (xs[i_hi], xs[i_lo])
            out_y += (ys[i_hi], ys[i_lo])
    out_x.append(xs[n - 1])
    out_y.append(_clean(ys[n - 1]))
    return out_x, out_y


def _clean(y: float) -> float | None:
    return None if y != y else y


def _has_nan(chunk: Sequence[float]) -> bool:
    # sum() is C-speed; a NaN anywhere makes it NaN (and +inf + -inf too, which is harmless).
    total = sum(chunk)
    return bool(total != total)


def _index(chunk: Sequence[float], value: float) -> int:
    index = getattr(chunk, "index", None)
    if index is not None:
        return int(index(value))
    return list(chunk).index(value)  # pragma: no cover - arrays and lists have index()
