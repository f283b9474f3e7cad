"""runlog._capture.fastformat's time caches: one compiled format over many records (cache hits and misses)
writes exactly what Formatter.format writes, and utc_millisecond's range holds one text (property-based)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runlog._capture.driverlog import format_utc
from runlog._capture.fastformat import compile_formatter, utc_millisecond
from runlog.stdlib import RunFormatter

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


pytestmark = pytest.mark.usefixtures("local_time_is_not_utc")


# Times close to one another (many records in one millisecond, on both sides of its edges), far apart,
# tiny, negative, and NaN.
base = st.one_of(st.floats(min_value=0, max_value=4e9), st.sampled_from([1764858516.0, 0.0, 0.999, 1e-300, 2.0**52 - 1]))
offsets = st.lists(
    st.one_of(st.floats(min_value=-0.003, max_value=0.003), st.integers(-3, 3).map(lambda k: k / 1000), st.just(0.0)),
    min_size=1,
    max_size=25,
)
odd_times = st.sampled_from([float("nan"), -0.5, -1764858516.25, 2.0**53 + 2.0, 5])


@st.composite
def times(draw: st.DrawFn) -> list[float]:
    start = draw(base)
    out: list[float] = [start + off for off in draw(offsets)]
    for _ in range(draw(st.integers(0, 6))):  # the exact edges of a millisecond, and the float either side
        x = out[draw(st.integers(0, len(out) - 1))]
        edge = int(x) + math.floor((x % 1) * 1000 + draw(st.integers(-1, 2))) / 1000 if x == x and x >= 0 else x
        out.append(math.nextafter(edge, draw(st.sampled_from([-math.inf, math.inf]))))
        out.append(edge)
    if draw(st.booleans()):
        out.insert(draw(st.integers(0, len(out))), draw(odd_times))
    return out


FORMATTERS = {
    "runlog": lambda: RunFormatter(),
    "runlog user format": lambda: RunFormatter("%(asctime)s|%(message)s"),
    "stdlib": lambda: logging.Formatter("%(asctime)s %(levelname)s %(message)s"),
    "stdlib gmtime": lambda: _gmtime(logging.Formatter("%(asctime)s %(message)s")),
    "stdlib datefmt": lambda: logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"),
}


def _gmtime(formatter: logging.Formatter) -> logging.Formatter:
    formatter.converter = time.gmtime
    return formatter


def _outcome(call: Callable[[], object]) -> tuple[str, object]:
    try:
        return "ok", call()
    except Exception as exc:
        return "error", type(exc)


@SETTINGS
@given(st.sampled_from(sorted(FORMATTERS)), times(), st.lists(st.sampled_from(["consistent", "999", "0", "same"]), min_size=1))
@example("runlog", [1764858516.0009999, 1764858516.001, 1764858516.0010002, 1764858515.999], ["consistent"])
@example("stdlib", [1764858516.25, 1764858516.75, 1764858517.25], ["same"])
def test_one_compiled_format_over_many_records_matches_formatter_format(name: str, created: list[float], msecs: list[str]) -> None:
    """One compiled format used for record after record (times in one millisecond, across its edges, back
    and forth, NaN, negative, huge; msecs consistent with created or not) writes what Formatter.format
    writes for each, with the same record.asctime, and raises where it raises: the caches never serve a
    text of another time."""
    formatter = FORMATTERS[name]()
    compiled = compile_formatter(formatter, (RunFormatter.format,), newline=False)
    assert compiled is not None
    for i, t in enumerate(created):
        kind = msecs[i % len(msecs)]
        ms = 12.0 if kind == "same" else 999.0 if kind == "999" else 0.0 if kind == "0" or t != t else None
        fields = {"msg": "m", "created": t, "msecs": ms if ms is not None else int((t - int(t)) * 1000) + 0.0}
        mine, theirs = logging.makeLogRecord(fields), logging.makeLogRecord(fields)
        got = _outcome(partial(compiled, mine, mine.__dict__))
        want = _outcome(partial(formatter.format, theirs))
        assert got[0] == want[0], (t, got, want)
        if want[0] == "ok":
            assert got == want, t
            assert mine.asctime == theirs.asctime


@SETTINGS
@given(st.one_of(st.floats(min_value=0, max_value=2.0**52), st.floats(min_value=0, max_value=1), st.integers(0, 2**40)))
@example(1764858516.0009999)
@example(0.0)
@example(4e9 - 1e-6)
def test_utc_millisecond_range_has_one_text(created: float) -> None:
    """utc_millisecond(t) is (start, end, format_utc(t)) with start <= t < end, start and the float just
    below end formatting the same, and the float just below start and end itself formatting otherwise
    (the range is exact); or an empty range, which a cache never hits."""
    start, end, text = utc_millisecond(created)
    assert text == format_utc(created)
    if start > end:
        return
    assert start <= created < end
    assert format_utc(start) == text and format_utc(math.nextafter(end, -math.inf)) == text
    assert format_utc(end) != text
    if start > 0:
        assert format_utc(math.nextafter(start, -math.inf)) != text


@pytest.mark.parametrize("datefmt", [None, "%H:%M:%S"])
def test_a_converter_changed_after_compiling_is_used_from_the_next_record(monkeypatch: pytest.MonkeyPatch, datefmt: str | None) -> None:
    """``logging.Formatter.converter = time.gmtime`` set on the class after the format was compiled (the usual
    way to log UTC), on the instance, or a converter of the user's own: the very next record, even in the same
    second and millisecond, has the text Formatter.format gives it (the time caches never serve the old one)."""
    formatter = logging.Formatter("%(asctime)s %(message)s", datefmt)
    compiled = compile_formatter(formatter, newline=False)
    assert compiled is not None

    def both(created: float) -> tuple[str, str]:
        fields = {"msg": "m", "created": created, "msecs": int((created - int(created)) * 1000) + 0.0}
        mine = logging.makeLogRecord(fields)
        return compiled(mine, mine.__dict__), formatter.format(logging.makeLogRecord(fields))

    t = 1764858516.25
    local, _ = both(t)
    assert local == both(t)[1]
    monkeypatch.setattr(logging.Formatter, "converter", time.gmtime)  # on the class, after compiling
    utc, want = both(t)
    assert utc == want and utc != local
    assert both(t + 0.0001) == (want, want)
    formatter.converter = time.localtime  # on the instance
    assert both(t) == (local, local)
    shifted = [0]

    def five_hours_on(secs: float | None) -> time.struct_time:  # the user's own: called for every record
        shifted[0] += 1
        return time.gmtime((secs or 0) + 5 * 3600)

    formatter.converter = five_hours_on  # type: ignore[method-assign,assignment]
    got, want = both(t)
    assert got == want and got not in (local, utc)
    assert both(t)[0] == want and shifted[0] == 4  # (two records, each formatted twice: no text kept)
