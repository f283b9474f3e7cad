"""Driver-log lines as OTLP log records: runlog's line layouts parsed back, tracebacks kept with their record.

:func:`parse_line` reads the time, severity, logger, body and trace context of a line (runlog's
text layout or its JSON lines); :func:`group_lines` keeps a traceback with the record line it was
logged with; :func:`log_request` makes the ``ExportLogsServiceRequest`` of a range of lines, each
record carrying ``runlog.log`` (the file) and ``runlog.seq`` (its first line's index) so that a
re-send is recognisable; :func:`status_request` the record saying how the run ended.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import json
import re
import time
from typing import Any

from .._store import layout
from ._otlp_proto import (
    SCOPE,
    ExportLogsServiceRequest,
    InstrumentationScope,
    LogRecord,
    Resource,
    ResourceLogs,
    ScopeLogs,
    any_value,
    key_value,
)

__all__ = ["group_lines", "is_driver_log", "log_request", "parse_line", "status_request"]

_SEVERITY = {
    "TRACE": 1, "DEBUG": 5, "INFO": 9, "NOTICE": 10, "WARN": 13, "WARNING": 13,
    "ERROR": 17, "EXCEPTION": 17, "CRITICAL": 21, "FATAL": 21,
}  # fmt: skip
_TEXT_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z ([A-Z][A-Z0-9_]*):([^:]*):(.*)", re.S)
_TRACE_SUFFIX = re.compile(r" trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16})$")
_second_cache: dict[str, int] = {}


def _utc_seconds(text: str) -> int:
    seconds = _second_cache.get(text)
    if seconds is None:
        if len(_second_cache) > 4096:
            _second_cache.clear()
        seconds = _second_cache[text] = calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    return seconds


def _iso_ns(value: Any) -> int:
    try:
        return int(_dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        return 0


def _take(obj: dict[str, Any], key: str, other: str, default: Any) -> Any:
    """``obj.pop(key)`` if it is there, else ``obj.pop(other, default)``: a line holding both keeps ``other``
    among its attributes."""
    return obj.pop(key) if key in obj else obj.pop(other, default)


def parse_line(line: str) -> tuple[int, str, int, str, Any, dict[str, Any], bytes, bytes]:
    """``(time ns, severity text, severity number, logger, body, attributes, trace id, span id)`` of a driver-log line.

    Understands runlog's text layout (``<UTC time> LEVEL:logger:message [trace_id=.. span_id=..]``)
    and its JSON lines; any other line (captured ``print`` output) is a body with unknown time.
    """
    attributes: dict[str, Any] = {}
    trace_id = span_id = b""
    match = _TEXT_LINE.fullmatch(line)
    if match:
        second, frac, level, logger, message = match.groups()
        ns = _utc_seconds(second) * 1_000_000_000 + (int((frac[1:] + "000000000")[:9]) if frac else 0)
        found = _TRACE_SUFFIX.search(message)
        if found:
            trace_id, span_id = bytes.fromhex(found.group(1)), bytes.fromhex(found.group(2))
            message = message[: found.start()]
        return ns, level, _SEVERITY.get(level, 0), logger, message, attributes, trace_id, span_id
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            ns = _iso_ns(_take(obj, "time", "timestamp", "")) if ("time" in obj or "timestamp" in obj) else 0
            level = str(_take(obj, "level", "levelname", "") or "").upper()
            logger = str(_take(obj, "logger", "name", "") or "")
            body = _take(obj, "message", "event", line)
            tid, sid = obj.pop("trace_id", None), obj.pop("span_id", None)
            if isinstance(tid, str) and isinstance(sid, str) and len(tid) == 32 and len(sid) == 16:
                try:
                    trace_id, span_id = bytes.fromhex(tid), bytes.fromhex(sid)
                except ValueError:
                    pass
            return ns, level, _SEVERITY.get(level, 0), logger, body, obj, trace_id, span_id
    return 0, "", 0, "", line, attributes, trace_id, span_id


_TRACEBACK_HEAD = b"Traceback (most recent call last):"
_CHAIN_HEADS = (b"During handling of the above exception", b"The above exception was the direct cause")
_EXCEPTION_LINE = re.compile(rb"[A-Za-z_][\w.]*(: .*)?")


def group_lines(lines: list[bytes]) -> list[list[bytes]]:
    """Lines grouped into records: a runlog record line and the traceback written with it.

    A traceback (``Traceback (most recent call last):``, its indented frame lines, chained
    exception headers with their blank lines, and the closing ``SomeError: message`` line)
    belongs to the record line right before it (a record logged with its exception);
    otherwise (a traceback the interpreter printed) it is a record of its own. Every other
    line is a record of its own. The grouping depends only on the lines, so a re-sent range
    groups the same way.
    """
    groups: list[list[bytes]] = []
    state = ""  # "" | "record" (a lone record line) | "tb" (inside a traceback) | "end" (after its last line) | "chain"
    count = len(lines)
    for i, line in enumerate(lines):
        stripped = line.rstrip(b"\r")
        continues = False
        if stripped.startswith(_TRACEBACK_HEAD):
            continues = state in ("record", "chain")
            next_state = "tb"
        elif state == "tb" and line[:1] in (b" ", b"\t"):
            continues, next_state = True, "tb"
        elif state == "tb" and _EXCEPTION_LINE.fullmatch(stripped):
            continues, next_state = True, "end"
        elif state in ("end", "chain") and not stripped and i + 1 < count:
            following = lines[i + 1]
            continues = following.startswith(_CHAIN_HEADS) or (state == "chain" and following.startswith(_TRACEBACK_HEAD))
            next_state = state if continues else ""
        elif state == "end" and stripped.startswith(_CHAIN_HEADS):
            continues, next_state = True, "chain"
        else:
            next_state = "record" if _TEXT_LINE.fullmatch(stripped.decode("utf-8", "replace")) else ""
        if continues and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
        state = next_state
    return groups


def is_driver_log(name: str) -> bool:
    """True for the driver logs of a run's processes: ``logs/driver_log.txt``, ``..._rank_<N>.txt``, ``..._<pid>.txt``."""
    return name.startswith(layout.LOGS_PREFIX + "driver_log") and name.endswith(".txt") and "/" not in name[len(layout.LOGS_PREFIX) :]



def log_request(resource: Resource, name: str, groups: list[list[bytes]], first_seq: int) -> ExportLogsServiceRequest:
    """The request holding the line ``groups`` of log ``name`` (the first numbered ``first_seq``), one scope per logger."""
    scopes: dict[str, list[LogRecord]] = {}
    observed = time.time_ns()
    seq = first_seq
    for group in groups:
        text = group[0].decode("utf-8", "replace").rstrip("\r")
        ns, level, number, logger, body, extra, trace_id, span_id = parse_line(text)
        if len(group) > 1:
            rest = b"\n".join(group[1:]).decode("utf-8", "replace").replace("\r\n", "\n")
            body = f"{body if isinstance(body, str) else json.dumps(body, default=repr)}\n{rest}"
        record = LogRecord(
            time_unix_nano=ns,
            observed_time_unix_nano=observed,
            severity_text=level,
            severity_number=number,  # type: ignore[arg-type]
            body=any_value(body),
            trace_id=trace_id,
            span_id=span_id,
        )
        record.attributes.extend(key_value(k, v) for k, v in extra.items())
        record.attributes.append(key_value("runlog.log", name))
        record.attributes.append(key_value("runlog.seq", seq))
        if len(group) > 1:
            record.attributes.append(key_value("runlog.lines", len(group)))
        seq += len(group)
        scopes.setdefault(logger or SCOPE, []).append(record)
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=resource,
                scope_logs=[ScopeLogs(scope=InstrumentationScope(name=s), log_records=r) for s, r in scopes.items()],
            )
        ]
    )


def status_request(resource: Resource, run_id: str, status: str, end_time: float | None) -> ExportLogsServiceRequest:
    """One log record saying how run ``run_id`` ended (``runlog.status``)."""
    ns = int((end_time or time.time()) * 1e9)
    record = LogRecord(
        time_unix_nano=ns,
        observed_time_unix_nano=ns,
        severity_text="ERROR" if status == "Failed" else "INFO",
        severity_number=17 if status == "Failed" else 9,  # type: ignore[arg-type]
        body=any_value(f"run {run_id} {status}"),
        attributes=[key_value("runlog.status", status), key_value("runlog.event", "status")],
    )
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=resource,
                scope_logs=[ScopeLogs(scope=InstrumentationScope(name=SCOPE), log_records=[record])],
            )
        ]
    )
