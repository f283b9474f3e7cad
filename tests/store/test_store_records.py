"""runlog._store.records: the 32-byte points records, their check, and telling records from damage."""

from __future__ import annotations

import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runlog import Experiment
from runlog._store import damage, layout, records
from runlog._store.records import (
    CHECK_BIT,
    CHECK_MASK,
    decode_records,
    good_records,
    group_packer,
    pack_float,
    pack_int,
    pack_point,
    point_columns,
    realign,
    record_checks,
    valid_points,
)

NO_STEP = layout.NO_STEP


@pytest.fixture(autouse=True)
def _fresh_reports() -> Iterator[None]:
    damage._reported.clear()
    records._file_formats.clear()
    yield
    damage._reported.clear()


def test_points_file_follows_the_documented_record_format(exp: Experiment) -> None:
    """Numeric run.log values are 32-byte records <IIdqd> (name id, type word, value, step, time) in
    <proc>.points.bin, the type word being the type in its low byte and (format 3) a check in its
    high three bytes: the top 23 bits of the CRC-32 of the record with those bytes zero, the top bit
    set; each name defined by an "n" line of the same process's metrics file before its first
    point; strings and ints beyond int64 stay JSON lines."""
    run = exp.start_logging()
    before = time.time()
    run.log("loss", 0.5, step=3)
    run.log("count", 7)
    run.log("flag", True, step=1)
    run.log("loss", None)
    run.log("phase", "warmup")
    run.log("huge", 2**70)
    events = run.path / layout.EVENTS_DIR
    points = next(events.glob("*" + layout.POINTS_SUFFIX)).read_bytes()
    metrics = next(events.glob("*" + layout.METRICS_SUFFIX)).read_text().splitlines()
    assert len(points) == 4 * 32
    f = [struct.unpack_from("<IIdqd", points, i * 32) for i in range(4)]
    q = [struct.unpack_from("<IIqqd", points, i * 32) for i in range(4)]
    no_step = -(1 << 63)
    for i in range(4):
        raw = bytearray(points[i * 32 : (i + 1) * 32])
        word = f[i][1]
        raw[5:8] = bytes(3)
        assert word & 0xFFFFFF00 == (zlib.crc32(raw) | 0x80000000) & 0xFFFFFF00, f"record {i}: its check"
    f = [(r[0], r[1] & 0xFF, *r[2:]) for r in f]
    q = [(r[0], r[1] & 0xFF, *r[2:]) for r in q]
    assert f[0][:4] == (0, 0, 0.5, 3)
    assert q[1][:4] == (1, 1, 7, no_step)
    assert q[2][:4] == (2, 2, 1, 1)
    assert q[3][:4] == (0, 3, 0, no_step)
    assert all(before <= r[4] <= time.time() for r in f)
    lines = [json.loads(line) for line in metrics]
    assert [e[:4] for e in lines if e[0] == "n"] == [
        ["n", "loss", 0, None],
        ["n", "count", 1, None],
        ["n", "flag", 2, None],
    ]
    assert [e[:4] for e in lines if e[0] == "s"] == [["s", "phase", "warmup", None], ["s", "huge", 2**70, None]]
    assert run.get_metrics() == {"loss": [0.5, None], "count": 7, "flag": True, "phase": "warmup", "huge": 2**70}


def _points() -> bytes:
    return b"".join(
        [
            pack_float(0, 0.5, 3, 100.0),
            pack_int(1, layout.T_INT, -7, NO_STEP, 101.0),
            pack_int(2, layout.T_BOOL, 1, 0, 102.0),
            pack_int(0, layout.T_NONE, 0, NO_STEP, 103.0),
        ]
    )


def test_a_record_carries_its_type_and_check_in_the_type_word() -> None:
    record = pack_float(5, 1.25, 7, 1700000000.0)
    nid, word, value, step, ts = struct.unpack("<IIdqd", record)
    assert (nid, word & 0xFF, value, step, ts) == (5, layout.T_FLOAT, 1.25, 7, 1700000000.0)
    zeroed = record[:5] + bytes(3) + record[8:]
    assert word & CHECK_MASK == (zlib.crc32(zeroed) | CHECK_BIT) & CHECK_MASK
    assert pack_point(5, layout.T_FLOAT, 1.25, 7, 1700000000.0) == record
    assert pack_point(1, layout.T_INT, 3, 0, 1.0) == pack_int(1, layout.T_INT, 3, 0, 1.0)


def test_a_number_beyond_64_bits_is_a_struct_error() -> None:
    with pytest.raises(struct.error):
        pack_int(0, layout.T_INT, 2**64, NO_STEP, 1.0)


def test_point_columns_decode_every_type() -> None:
    good = valid_points(_points())
    ids, values, steps, times = point_columns(memoryview(good))
    assert ids == [0, 1, 2, 0]
    assert values == [0.5, -7, True, None] and type(values[2]) is bool
    assert steps == [3, None, 0, None]
    assert times == [100.0, 101.0, 102.0, 103.0]


def test_record_checks_name_the_records_that_fail() -> None:
    data = bytearray(_points())
    assert record_checks(bytes(data), 4) is None
    data[32 + 12] ^= 0x01  # a bit flipped in the value of record 1
    assert record_checks(bytes(data), 4) == [1]
    assert good_records(memoryview(bytes(data))) == [0, 2, 3]


def test_valid_points_drops_zero_fill_and_reports_it_once(caplog: pytest.LogCaptureFixture) -> None:
    data = _points()[:64] + bytes(32) + _points()[64:]
    with caplog.at_level(logging.WARNING, logger="runlog.store"):
        kept = valid_points(data, "/s/p.points.bin")
        valid_points(data, "/s/p.points.bin")
    assert len(kept) == 4 * 32
    assert [struct.unpack_from("<I", kept, 32 * i + 4)[0] for i in range(4)] == [0, 1, 2, 3]  # checks zeroed
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "1 damaged point record(s)" in warnings[0]


def test_a_torn_last_record_is_not_read() -> None:
    assert len(valid_points(_points()[:-5])) == 3 * 32
    assert len(valid_points(b"\x01" * 31)) == 0


def test_realign_finds_the_records_after_bytes_lost_at_the_start() -> None:
    names = {0: "a", 1: "b", 2: "c"}
    data = _points()
    assert realign(data, names) is data  # whole, good records: read as they are
    found = realign(data[5:], names)
    assert bytes(found) == data[32:]  # the torn first record is lost, the others are found


def test_realign_finds_the_records_around_inserted_bytes() -> None:
    data = _points()
    found = realign(data[:64] + b"garbage" + data[64:], {0: "a", 1: "b", 2: "c"})
    assert bytes(found) == data


def test_decode_records_skips_points_of_undefined_names() -> None:
    names, values, steps, times = decode_records(_points(), {0: "loss", 2: "flag"})
    assert names == ["loss", "flag", "loss"]
    assert values == [0.5, True, None] and steps == [3, 0, None] and times == [100.0, 102.0, 103.0]
    assert decode_records(b"", {0: "loss"}) == ([], [], [], [])


def test_format_2_records_are_read_and_their_damage_found() -> None:
    old = struct.pack("<IIdqd", 0, layout.T_FLOAT, 1.5, NO_STEP, 100.0) + struct.pack(
        "<IIqqd", 0, layout.T_INT, 4, 1, 101.0
    )
    assert good_records(memoryview(old)) is None
    assert decode_records(old, {0: "m"}) == (["m", "m"], [1.5, 4], [None, 1], [100.0, 101.0])
    bad_type = struct.pack("<IIdqd", 0, 9, 1.5, NO_STEP, 100.0)
    assert good_records(memoryview(old + bytes(32) + bad_type)) == [0, 1]


_I64 = st.integers(-(2**63), 2**63 - 1)
_VALUE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), _I64)


def _c_group_packer(names: tuple[str, ...], nids: tuple[int, ...], kinds: tuple[int, ...]) -> records.GroupPacker:
    """group_packer with the C function (runlog._store._packer, built at install by hatch_build.py). Without it
    (an install with no C compiler: runlog is then pure Python) these tests are skipped, unless
    RUNLOG_REQUIRE_C is set, as `make test` sets it where a C compiler is."""
    if records._native is None:
        if os.environ.get("RUNLOG_REQUIRE_C"):
            pytest.fail("the C packer was not built: hatch_build.py needs a C compiler and Python's headers")
        pytest.skip("runlog's C packer is not built (no C compiler at install)")
    return group_packer(names, nids, kinds)


PACKERS = {"C": _c_group_packer, "Python": records.python_group_packer}


@pytest.mark.parametrize("make", list(PACKERS.values()), ids=list(PACKERS))
@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=8), _VALUE, min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
    _I64,
    st.floats(allow_nan=False),
)
def test_a_group_packer_packs_what_pack_point_packs(
    make: Any, values: dict[str, float | int], first_id: int, step: int, now: float
) -> None:
    """The packer of a group of names (in C, and in Python) gives, byte for byte, the records pack_point gives each value."""
    names = tuple(values)
    nids = tuple((first_id + i) % 2**32 for i in range(len(names)))
    kinds = tuple(layout.T_FLOAT if type(v) is float else layout.T_INT for v in values.values())
    packer = make(names, nids, kinds)
    expected = b"".join(pack_point(nid, kind, values[n], step, now) for n, nid, kind in zip(names, nids, kinds))
    assert packer(values, step, now) == expected
    assert packer(dict(reversed(values.items())), step, now) == expected  # (the compiled order)
    assert all(records._check_ok(expected[i : i + 32]) for i in range(0, len(expected), 32))


def _outcome(packer: Any, values: dict[str, Any], step: int, now: float) -> object:
    try:
        return packer(values, step, now)
    except (KeyError, struct.error) as exc:
        return type(exc)


_ANY = st.one_of(_VALUE, _VALUE, st.integers(), st.booleans(), st.text(max_size=3), st.none())
_STEP_OR_TIME = st.one_of(_I64, st.integers(), st.floats(), st.booleans(), st.none(), st.text(max_size=2))


@st.composite
def _group_and_values(draw: st.DrawFn) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A group of names (ids, kinds), and values: mostly its names with numbers of its kinds (packed), else
    with a name missing or added, a value of another class, numbers beyond 64 bits."""
    names = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4, unique=True))
    kinds = [draw(st.sampled_from([layout.T_FLOAT, layout.T_INT])) for _ in names]
    ids = [draw(st.integers(0, 2**32 - 1)) for _ in names]
    values: dict[str, Any] = {}
    for name, kind in zip(names, kinds):
        values[name] = draw(st.floats() if kind == layout.T_FLOAT else st.one_of(_I64, _I64, st.integers()))
    change = draw(st.sampled_from(["none", "none", "class", "missing", "extra", "other"]))
    if change == "class":
        values[draw(st.sampled_from(names))] = draw(_ANY)
    elif change == "missing":
        del values[draw(st.sampled_from(names))]
        values["z"] = 1.0  # (as many names: a KeyError, not another size)
    elif change == "extra":
        values["z"] = draw(_ANY)
    elif change == "other":
        values = draw(st.dictionaries(st.sampled_from("abcdefg"), _ANY, max_size=5))
    return (tuple(names), tuple(ids), tuple(kinds)), values


@settings(max_examples=600, deadline=None)
@given(_group_and_values(), st.one_of(_I64, _I64, _STEP_OR_TIME), st.one_of(st.floats(), st.floats(), _STEP_OR_TIME))
def test_the_c_packer_answers_as_the_python_one_for_any_values(drawn: tuple[Any, dict[str, Any]], step: Any, now: Any) -> None:
    """The same bytes, the same None (another size or class), KeyError (a name missing) and struct.error (a value,
    step or time beyond 64 bits or of another type), in the same order of precedence, for any dict, step and time."""
    group, values = drawn
    assert _outcome(_c_group_packer(*group), values, step, now) == _outcome(records.python_group_packer(*group), values, step, now)


@pytest.mark.parametrize("make", list(PACKERS.values()), ids=list(PACKERS))
def test_a_group_packer_refuses_what_it_was_not_compiled_for(make: Any) -> None:
    packer = make(("loss", "n"), (0, 1), (layout.T_FLOAT, layout.T_INT))
    assert packer({"loss": 1.0, "n": 2}, 3, 4.0) == pack_float(0, 1.0, 3, 4.0) + pack_int(1, layout.T_INT, 2, 3, 4.0)
    assert packer({"loss": 1, "n": 2}, 3, 4.0) is None  # an int where a float was
    assert packer({"loss": 1.0, "n": True}, 3, 4.0) is None  # a bool is not an int here
    assert packer({"loss": 1.0, "n": 2, "x": 3.0}, 3, 4.0) is None  # another group
    assert packer({"loss": 1.0}, 3, 4.0) is None
    with pytest.raises(KeyError):
        packer({"loss": 1.0, "m": 2}, 3, 4.0)
    with pytest.raises(struct.error):
        packer({"loss": 1.0, "n": 2**64}, 3, 4.0)
    odd = make(("a\n\"'\\", "{x}"), (5, 6), (layout.T_FLOAT, layout.T_FLOAT))  # names never in the source
    assert odd({"a\n\"'\\": 1.0, "{x}": 2.0}, NO_STEP, 1.0) == pack_float(5, 1.0, NO_STEP, 1.0) + pack_float(6, 2.0, NO_STEP, 1.0)
    with pytest.raises(ValueError, match="same non-zero length"):
        make((), (), ())
