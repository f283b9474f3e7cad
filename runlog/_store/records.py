"""The 32-byte points records of ``<proc>.points.bin``: packing, the per-record check, and telling
a record a writer wrote from damage (see ``docs/store-format.md``, "Points files").

A record is ``struct`` ``<IIdqd``: name id, type word, value, step, time. In store format 3 the
type word holds the value type in its low byte and a 24-bit check in its three high bytes: the
top 23 bits of the CRC-32 of the record with those three bytes zero, with the top bit always set.
A record of format 2 has those bytes zero, so a file (or a chunk of one) whose records carry the
bit is of format 3, and every record in it must carry a matching check; zero fill, a record read
misaligned and most other damage fail it. Readers that hand records on (:func:`valid_points`)
give them with the check bytes zeroed again: the type word is then the type, as in format 2.
"""

from __future__ import annotations

import functools
import itertools
import struct
import sys
import threading
import zlib
from array import array
from collections.abc import Callable, Iterable
from typing import Any

from . import layout
from .damage import report_damage

try:  # a tagged record's values packed in C: built at install when a C compiler is there (hatch_build.py)
    from . import _packer as _native
except ImportError:
    _native = None  # type: ignore[assignment]
# Records are little-endian (the C function copies native numbers); a module of another version is one an
# editable install built from an older source.
if sys.byteorder != "little" or getattr(_native, "VERSION", None) != 1:
    _native = None  # type: ignore[assignment]

__all__ = [
    "CHECK_BIT",
    "CHECK_MASK",
    "decode_records",
    "good_records",
    "group_packer",
    "python_group_packer",
    "pack_float",
    "pack_int",
    "pack_point",
    "point_columns",
    "realign",
    "record_checks",
    "valid_points",
]

POINT_SIZE, NO_STEP = layout.POINT_SIZE, layout.NO_STEP
T_FLOAT, T_INT, T_BOOL, T_NONE = layout.T_FLOAT, layout.T_INT, layout.T_BOOL, layout.T_NONE

_pack_float = struct.Struct("<IIdqd").pack
_pack_int = struct.Struct("<IIqqd").pack
_crc32 = zlib.crc32
# The type word of a format 3 record: the type | (CRC-32 of the record with the word's high bytes
# zero | CHECK_BIT) & CHECK_MASK. The bit tells a format 3 record from a format 2 one (and a
# zeroed one); the mask keeps the type's byte free.
CHECK_BIT = 0x80000000
CHECK_MASK = 0xFFFFFF00


def pack_float(nid: int, value: float, st: int, now: float) -> bytes:
    """The record of a float (``st``: the step, ``NO_STEP`` for none); struct.error beyond 64 bits."""
    return _pack_float(nid, (_crc32(_pack_float(nid, T_FLOAT, value, st, now)) | CHECK_BIT) & CHECK_MASK, value, st, now)


def pack_int(nid: int, kind: int, value: int, st: int, now: float) -> bytes:
    """The record of an int, bool (0/1) or None (0) value of type ``kind``."""
    return _pack_int(nid, kind | (_crc32(_pack_int(nid, kind, value, st, now)) | CHECK_BIT) & CHECK_MASK, value, st, now)


def pack_point(nid: int, kind: int, value: Any, st: int, now: float) -> bytes:
    """The record of a value of any point type."""
    if kind == T_FLOAT:
        return pack_float(nid, value, st, now)
    return pack_int(nid, kind, value, st, now)


GroupPacker = Callable[[dict[str, Any], int, float], "bytes | None"]
_RECORD_FORMATS = {T_FLOAT: "IIdqd", T_INT: "IIqqd"}
_KIND_CLASSES = {T_FLOAT: "float", T_INT: "int"}


def group_packer(names: tuple[str, ...], nids: tuple[int, ...], kinds: tuple[int, ...]) -> GroupPacker:
    """A function ``(values, st, now)``: the records of ``values[name]`` for each of ``names`` (ids ``nids``),
    the same bytes as :func:`pack_point` of each, for a dict holding exactly these names whose values are of
    exactly the classes ``kinds`` says (``T_FLOAT``: float, ``T_INT``: int; no subclass).

    None when ``values`` has another number of keys or a value of another class; KeyError when it lacks
    one of the names; struct.error for an int (or a step) beyond 64 bits. (The C function also answers None
    for a dict subclass or another mapping, which the writer then packs the careful way, and checks exact
    classes with no regard to a ``__class__`` that says otherwise.) Made once per group: the writer
    keeps one per group of names a program logs together (``RunWriter._pack``). The C function of
    ``runlog._store._packer`` (built at install when a C compiler is there) bound to the group, else
    :func:`python_group_packer`.
    """
    _check_group(names, nids, kinds)
    if _native is not None:
        return functools.partial(_native.pack, (tuple(names), tuple(nids), tuple(kinds)))
    return python_group_packer(names, nids, kinds)


def _check_group(names: tuple[str, ...], nids: tuple[int, ...], kinds: tuple[int, ...]) -> None:
    if not names or len(names) != len(nids) or len(names) != len(kinds) or not set(kinds) <= set(_RECORD_FORMATS):
        raise ValueError("group_packer: names, ids and kinds (T_FLOAT or T_INT) of the same non-zero length")
    if any(type(nid) is not int or not 0 <= nid < 2**32 for nid in nids):
        raise ValueError(f"group_packer: name ids are ints from 0 to 2**32 - 1; got {nids}")


def python_group_packer(names: tuple[str, ...], nids: tuple[int, ...], kinds: tuple[int, ...]) -> GroupPacker:
    """:func:`group_packer` in Python: generated once per group (one ``struct`` call for every record and one
    CRC per record, no loop)."""
    _check_group(names, nids, kinds)
    namespace: dict[str, Any] = {
        "P": struct.Struct("<" + "".join(_RECORD_FORMATS[k] for k in kinds)).pack,
        "F": _pack_float,
        "I": _pack_int,
        "crc": _crc32,
    }
    reads, tests, fields = [], [], []
    for i, (name, nid, kind) in enumerate(zip(names, nids, kinds)):
        namespace[f"K{i}"] = name  # (names are constants of the namespace: never part of the source)
        reads.append(f"    v{i} = values[K{i}]")
        tests.append(f"v{i}.__class__ is not {_KIND_CLASSES[kind]}")
        one = "F" if kind == T_FLOAT else "I"
        fields.append(
            f"{int(nid)}, {int(kind)} | (crc({one}({int(nid)}, {int(kind)}, v{i}, st, now)) | {CHECK_BIT}) & {CHECK_MASK}, v{i}, st, now"
        )
    source = "\n".join(
        [
            "def pack(values, st, now):",
            f"    if len(values) != {len(names)}:",
            "        return None",
            *reads,
            f"    if {' or '.join(tests)}:",
            "        return None",
            f"    return P({', '.join(fields)})",
        ]
    )
    exec(source, namespace)  # source built above from ints and fixed text
    packer: GroupPacker = namespace["pack"]
    return packer


# -- checking what was read ------------------------------------------------------------------

_HIGH = bytes(b | 0x80 for b in range(256))  # a byte with its top bit set, for comparing the top check byte
_BLOCK = 4096
_SPLIT = struct.Struct("32s" * _BLOCK)
_LITTLE = sys.byteorder == "little"


def _split(data: bytes | bytearray, n: int) -> Iterable[bytes]:
    """The ``n`` whole records of ``data`` as bytes objects, split in C a block at a time."""
    full = n // _BLOCK
    for block in range(full):
        yield from _SPLIT.unpack_from(data, block * _BLOCK * POINT_SIZE)
    rest = n - full * _BLOCK
    if rest:
        yield from struct.unpack_from("32s" * rest, data, full * _BLOCK * POINT_SIZE)


def _zero_checks(data: bytes | memoryview, n: int) -> bytearray:
    """A copy of the ``n`` whole records of ``data`` with the check bytes (5-7 of each) zero."""
    copy = bytearray(data[: n * POINT_SIZE])
    zeros = bytes(n)
    copy[5::POINT_SIZE] = zeros
    copy[6::POINT_SIZE] = zeros
    copy[7::POINT_SIZE] = zeros
    return copy


def record_checks(data: bytes, n: int) -> list[int] | None:
    """The indexes of the records (of the first ``n`` of ``data``, format 3) whose check fails; None when
    none does. The CRCs are computed in C, compared column by column; one by one only on a failure."""
    crcs = array("I", map(_crc32, _split(_zero_checks(data, n), n)))
    if not _LITTLE:
        crcs.byteswap()
    raw = crcs.tobytes()
    if raw[1::4] == data[5 : n * POINT_SIZE : POINT_SIZE] and raw[2::4] == data[6 : n * POINT_SIZE : POINT_SIZE]:
        if raw[3::4].translate(_HIGH) == data[7 : n * POINT_SIZE : POINT_SIZE]:
            return None
    bad = []
    for i in range(n):
        at = i * POINT_SIZE
        if raw[4 * i + 1 : 4 * i + 3] != data[at + 5 : at + 7] or raw[4 * i + 3] | 0x80 != data[at + 7]:
            bad.append(i)
    return bad


def is_checked(data: bytes | memoryview, n: int) -> bool:
    """Whether the records of ``data`` are of format 3 (some record carries the check bit)."""
    return not bytes(data[7 : n * POINT_SIZE : POINT_SIZE]).isascii()


# What a format 2 writer never writes, so a format 2 record holding it is damage: a type other than
# 0-3 (a record read misaligned, mostly), 32 zero bytes (a block lost in a power loss), a time that
# is NaN, infinite or subnormal (a record read 8 bytes off has the next record's id and type there).
# Times are otherwise free: MLflow clients give their own timestamps (0, 1970, ...).
_KNOWN_TYPES = frozenset({T_FLOAT, T_INT, T_BOOL, T_NONE})
_TINY = 2.2250738585072014e-308  # the smallest normal double
_ZERO_RECORD = bytes(POINT_SIZE)
_INF = float("inf")


def _record_ok(rtype: int, ts: float, raw: bytes) -> bool:
    if rtype not in _KNOWN_TYPES or ts != ts or ts in (_INF, -_INF):
        return False
    if ts == 0.0:
        return raw != _ZERO_RECORD
    return abs(ts) >= _TINY


# The last check made (records of one buffer are checked by good_records, realign and valid_points
# in turn): a reader of many points pays for their CRCs once. valid_points, the last of them, drops it.
_memo: tuple[tuple[int, bool], bytes, list[int] | None] | None = None
_memo_lock = threading.Lock()


def good_records(view: memoryview, checked: bool = False) -> list[int] | None:
    """The indexes of the whole records of ``view`` that can be points a writer wrote; None when all can.

    Format 3 records (``checked``: the file is known to be of format 3, else :func:`is_checked`) must
    carry a matching check; format 2 records must hold nothing a writer never writes (checked
    column-wise in C; record by record only when something looks wrong).
    """
    global _memo
    n = len(view) // POINT_SIZE
    if not n:
        return None
    raw = view[: n * POINT_SIZE].tobytes()
    checked = checked or is_checked(raw, n)
    memo = _memo
    if memo is not None and memo[0] == (n, checked) and memo[1] == raw:
        return memo[2]
    if checked:
        found = record_checks(raw, n)
        good = None if found is None else sorted(set(range(n)).difference(found))
    else:
        good = _good_format_2(view[: n * POINT_SIZE], raw, n)
    with _memo_lock:
        _memo = ((n, checked), raw, good)
    return good


def _good_format_2(view: memoryview, raw: bytes, n: int) -> list[int] | None:
    types = view.cast("I")[1::8].tolist()
    times = view.cast("d")[3::4].tolist()
    total = sum(times)  # NaN if a time is NaN, infinite if one is
    if set(types) <= _KNOWN_TYPES and total == total and abs(total) != _INF and min(map(abs, times)) >= _TINY:
        return None
    return [i for i in range(n) if _record_ok(types[i], times[i], raw[i * POINT_SIZE : (i + 1) * POINT_SIZE])]


def valid_points(data: bytes | bytearray | memoryview, source: Any = None) -> bytes | bytearray | memoryview:
    """The whole records of ``data`` that can be points a writer wrote, with format 3's check bytes zeroed
    (the type word is then the type); the others (zero fill, a record read misaligned, a failed check)
    are dropped and reported once per ``source``."""
    n = len(data) // POINT_SIZE
    if not n:
        return memoryview(data)[:0]
    global _memo
    view = memoryview(data)[: n * POINT_SIZE]
    checked = is_checked(view, n) or file_is_checked(source)
    keep = good_records(view, checked)
    _memo = None  # (the last step of a read: the buffer is not kept alive)
    if keep is None:
        return _zero_checks(view, n) if checked else view
    report_damage(
        source,
        f"{n - len(keep)} damaged point record(s)",
        " (zero-filled, misaligned or failing their check: not a record a writer wrote)",
    )
    raw = view.tobytes()
    kept = b"".join(raw[i * POINT_SIZE : (i + 1) * POINT_SIZE] for i in keep)
    return _zero_checks(kept, len(keep)) if checked else kept


def point_columns(view: memoryview) -> tuple[list[int], list[Any], list[Any], list[Any]]:
    """Name ids, values (as logged: float, int, bool or None), steps (None for none) and times of
    whole records, column by column with strided ``memoryview`` casts (no per-record ``struct.unpack``)."""
    u32, f64, i64 = view.cast("I"), view.cast("d"), view.cast("q")
    types = u32[1::8].tolist()
    kinds = set(types)
    if not kinds <= _KNOWN_TYPES:  # format 3 records not yet through valid_points: the type is the low byte
        types = [t & 0xFF for t in types]
        kinds = set(types)
    values: list[Any]
    if kinds == {T_FLOAT}:
        values = f64[1::4].tolist()
    elif kinds == {T_INT}:
        values = i64[1::4].tolist()
    else:
        floats, ints = f64[1::4].tolist(), i64[1::4].tolist()
        values = [
            floats[i] if t == T_FLOAT else ints[i] if t == T_INT else bool(ints[i]) if t == T_BOOL else None
            for i, t in enumerate(types)
        ]
    steps: list[Any] = i64[2::4].tolist()
    if NO_STEP in steps:
        steps = [None if st == NO_STEP else st for st in steps]
    times: list[Any] = f64[3::4].tolist()
    return u32[0::8].tolist(), values, steps, times


def _alignment_score(data: bytes | bytearray | memoryview, names: dict[int, str]) -> tuple[int, int]:
    """How well the whole records of ``data`` read as points: (good records of a defined name, pairs
    of them in time order plus pairs in step order). Records read misaligned are few good ones, or
    their "times" and "steps" (other fields' bytes) are in no order."""
    view = memoryview(data)[: len(data) // POINT_SIZE * POINT_SIZE]
    n = len(view) // POINT_SIZE
    if not n:
        return 0, 0
    keep = good_records(view)
    ids = view.cast("I")[0::8].tolist()
    times = view.cast("d")[3::4].tolist()
    steps = view.cast("q")[2::4].tolist()
    good = [i for i in (range(n) if keep is None else keep) if ids[i] in names]
    ordered = sum((times[a] <= times[b]) + (steps[a] <= steps[b]) for a, b in itertools.pairwise(good))
    return len(good), ordered


def _check_ok(record: bytes) -> bool:
    """Whether one 32-byte record carries the check bit and a matching check (format 3)."""
    word = record[7]
    if not word & 0x80:
        return False
    crc = _crc32(record[:5] + b"\0\0\0" + record[8:])
    return (crc | CHECK_BIT) & CHECK_MASK == int.from_bytes(record[4:8], "little") & CHECK_MASK


def _checked_somewhere(raw: bytes, probe: int = 64) -> bool:
    """Whether any of the first ``probe`` records, at any of the 32 alignments, passes a check: the data
    is of format 3 (however its start was damaged). A format 2 file passes none (its bytes 5-7 are 0)."""
    end = min(len(raw), (probe + 1) * POINT_SIZE)
    return any(_check_ok(raw[at : at + POINT_SIZE]) for at in range(0, end - POINT_SIZE + 1))


# Points files known to be of format 3 or 2 (a file's format never changes: its first records say it).
_file_formats: dict[str, bool] = {}
_PROBE = 64


def file_is_checked(source: Any) -> bool:
    """Whether the points file ``source`` (a path; None: unknown) is of format 3, as its first records
    say: then a part of it read alone (a reader that reads what was appended) is held to format 3's
    checks even where a damaged record lacks the check bit. Read once per file."""
    if source is None:
        return False
    key = str(source)
    known = _file_formats.get(key)
    if known is not None:
        return known
    try:
        with open(source, "rb") as fh:
            head = fh.read((_PROBE + 1) * POINT_SIZE)
    except (OSError, TypeError, ValueError):
        return False
    checked = len(head) >= POINT_SIZE and _checked_somewhere(head, _PROBE)
    if checked or len(head) == (_PROBE + 1) * POINT_SIZE:  # (a short format 2 file may still be a new one)
        if len(_file_formats) > 4096:
            _file_formats.clear()
        _file_formats[key] = checked
    return checked


def _resync(raw: bytes) -> tuple[bytes, int, int]:
    """The records of format 3 ``raw`` that pass their check, found wherever they are: a record that fails
    is skipped when the next one passes (damaged in place); else the bytes are scanned for the next two
    records in a row that pass (bytes lost or inserted). Returns them, the bytes skipped out of line and the
    records damaged in place."""
    out: list[bytes] = []
    pos, size, skipped, damaged = 0, len(raw), 0, 0
    while pos + POINT_SIZE <= size:
        record = raw[pos : pos + POINT_SIZE]
        if _check_ok(record):
            out.append(record)
            pos += POINT_SIZE
            continue
        if pos + 2 * POINT_SIZE <= size and _check_ok(raw[pos + POINT_SIZE : pos + 2 * POINT_SIZE]):
            pos += POINT_SIZE  # this one record was damaged in place
            damaged += 1
            continue
        start = pos
        pos += 1
        while pos + POINT_SIZE <= size:
            if _check_ok(raw[pos : pos + POINT_SIZE]) and (
                pos + 2 * POINT_SIZE > size or _check_ok(raw[pos + POINT_SIZE : pos + 2 * POINT_SIZE])
            ):
                break
            pos += 1
        if (pos - start) % POINT_SIZE:
            skipped += pos - start
        else:
            damaged += (pos - start) // POINT_SIZE  # whole records damaged in place (zero fill)
    return b"".join(out), skipped, damaged


def realign(data: bytes | bytearray | memoryview, names: dict[int, str], source: Any = None) -> bytes | bytearray | memoryview:
    """``data`` from the byte where its records line up (and, format 3, without what lies between).

    A file of whole, good records is read as it is, at no cost beyond the checks. Format 3: every record
    that passes its check is found wherever it is (:func:`_resync`): bytes lost at the start or inserted
    or lost in the middle cost only the records they touch. Format 2 (no checks): bytes lost at the start
    shift every record: then most records are not good points of defined names, or the file is not
    whole records (a torn piece is only ever at the end: the offset its size points at is tried against
    the start); of the offsets tried, the one with the most good records plus pairs of them in time and
    in step order is taken. What was skipped is reported.
    """
    n = len(data) // POINT_SIZE
    ragged = len(data) % POINT_SIZE
    if n < 1:
        return data
    view = memoryview(data)[: n * POINT_SIZE]
    checked = is_checked(view, n) or file_is_checked(source)
    if good_records(view, checked) is None and (checked or (not ragged and set(view.cast("I")[0::8].tolist()) <= names.keys())):
        return data  # the usual file (format 3: every whole record passed its check)
    raw = bytes(data)
    if checked or _checked_somewhere(raw):
        found, skipped, damaged = _resync(raw)
        if damaged:
            report_damage(
                source,
                f"{damaged} damaged point record(s)",
                " (zero-filled, misaligned or failing their check: not a record a writer wrote)",
            )
        if skipped:
            report_damage(source, f"{skipped} byte(s) out of line (lost or inserted bytes)", " (the records around them are read)")
        return found
    if n < 2 or not names:
        return data
    good, ordered = _alignment_score(data, names)
    if 2 * good < n:
        offsets: Iterable[int] = range(1, POINT_SIZE)
    elif ragged:
        offsets = [ragged]
    else:
        return data
    best, best_at = good + ordered, 0
    for offset in offsets:
        g, o = _alignment_score(memoryview(data)[offset:], names)
        if g + o > best:
            best, best_at = g + o, offset
    if best_at:
        report_damage(source, f"the first {best_at} byte(s) (the records were misaligned)", " (bytes lost at its start)")
        return memoryview(data)[best_at:]
    return data


def decode_records(data: bytes | memoryview, names: dict[int, str], source: Any = None) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Names, values, steps and times of the good records of a points file's data (see ``decode_points``)."""
    good = valid_points(realign(data, names, source), source)
    n = len(good) // POINT_SIZE
    if not n:
        return [], [], [], []
    ids, values, steps, times = point_columns(memoryview(good)[: n * POINT_SIZE])
    unknown = set(ids).difference(names)
    if unknown:  # a name whose "n" line was lost (a damaged metrics file): its points are skipped
        lost = sum(1 for nid in ids if nid in unknown)
        report_damage(source, f"{lost} point(s) of undefined name id(s) {sorted(unknown)[:10]}", " (their name line was lost)")
        keep = [i for i, nid in enumerate(ids) if nid not in unknown]
        ids = [ids[i] for i in keep]
        values, steps, times = [values[i] for i in keep], [steps[i] for i in keep], [times[i] for i in keep]
        n = len(ids)
        if not n:
            return [], [], [], []
    name_list = [names[i] for i in ids] if len(names) > 1 else [names[ids[0]]] * n
    return name_list, values, steps, times
