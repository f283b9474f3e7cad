"""runlog._upload._otlp_logs: driver-log lines parsed back and grouped into OTLP log records."""

from __future__ import annotations

import json

from runlog._upload._otlp_logs import group_lines, is_driver_log, log_request, parse_line, status_request
from runlog._upload._otlp_proto import Resource


def test_parse_line_layouts() -> None:
    """Text lines, JSON lines and plain output are parsed back into time, severity, logger, body and trace ids."""
    tid, sid = "ab" * 16, "cd" * 8
    ns, level, number, logger, body, attrs, trace, span = parse_line(
        f"2026-11-27T14:28:49.123Z WARNING:app.db:slow: 3 s trace_id={tid} span_id={sid}"
    )
    assert (level, number, logger, body) == ("WARNING", 13, "app.db", "slow: 3 s")
    assert ns == 1795789729_123_000_000 and trace.hex() == tid and span.hex() == sid
    ns, level, number, logger, body, attrs, trace, span = parse_line(
        '{"time": "2026-11-27T14:28:49.500Z", "level": "error", "logger": "x", "message": "m", "user": "ada"}'
    )
    assert (ns, level, number, logger, body, attrs) == (1795789729_500_000_000, "ERROR", 17, "x", "m", {"user": "ada"})
    assert parse_line("Epoch 1/3 ... 100%") == (0, "", 0, "", "Epoch 1/3 ... 100%", {}, b"", b"")


RESOURCE = Resource()


def test_a_logged_traceback_stays_with_its_record_and_a_printed_one_is_its_own() -> None:
    lines = [
        b"2026-01-01T00:00:00Z ERROR:app:failed",
        b"Traceback (most recent call last):",
        b'  File "x.py", line 1, in <module>',
        b"ValueError: bad",
        b"",
        b"The above exception was the direct cause of the following exception:",
        b"",
        b"Traceback (most recent call last):",
        b'  File "y.py", line 2, in f',
        b"RuntimeError: worse",
        b"plain output",
        b"Traceback (most recent call last):",
        b'  File "z.py", line 3',
        b"KeyError: 'k'",
    ]
    groups = group_lines(lines)
    assert [len(g) for g in groups] == [10, 1, 3]
    assert groups[1] == [b"plain output"] and groups[2][0].startswith(b"Traceback")
    assert group_lines(lines) == groups  # the same lines group the same way on a re-send


def test_only_the_driver_logs_of_the_processes_are_driver_logs() -> None:
    for name in ("logs/driver_log.txt", "logs/driver_log_rank_1.txt", "logs/driver_log_4242.txt"):
        assert is_driver_log(name), name
    for name in ("logs/runlog_system.txt", "logs/sub/driver_log.txt", "outputs/driver_log.txt", "logs/driver_log.json"):
        assert not is_driver_log(name), name


def test_a_log_request_numbers_its_records_and_keeps_one_scope_per_logger() -> None:
    lines = [b"2026-01-01T00:00:00.5Z INFO:train:step 1", b"progress 50%", b"2026-01-01T00:00:01Z WARNING:data:slow"]
    request = log_request(RESOURCE, "logs/driver_log.txt", group_lines(lines), first_seq=40)
    (resource_logs,) = request.resource_logs
    scopes = {s.scope.name: list(s.log_records) for s in resource_logs.scope_logs}
    assert list(scopes) == ["train", "runlog", "data"]  # a line without a logger goes to runlog's scope
    seqs = {
        name: [{a.key: a.value for a in r.attributes}["runlog.seq"].int_value for r in records]
        for name, records in scopes.items()
    }
    assert seqs == {"train": [40], "runlog": [41], "data": [42]}
    train = scopes["train"][0]
    assert (train.severity_text, train.severity_number, train.body.string_value) == ("INFO", 9, "step 1")
    assert train.time_unix_nano == 1767225600_500_000_000
    assert scopes["runlog"][0].time_unix_nano == 0  # printed output has no time of its own


def test_a_status_record_says_how_the_run_ended() -> None:
    failed = status_request(RESOURCE, "r1", "Failed", 1767225600.0).resource_logs[0].scope_logs[0].log_records[0]
    assert (failed.severity_text, failed.severity_number, failed.body.string_value) == ("ERROR", 17, "run r1 Failed")
    assert failed.time_unix_nano == 1767225600 * 10**9
    assert {a.key: a.value.string_value for a in failed.attributes} == {
        "runlog.status": "Failed",
        "runlog.event": "status",
    }
    done = status_request(RESOURCE, "r1", "Completed", None).resource_logs[0].scope_logs[0].log_records[0]
    assert (done.severity_text, done.severity_number) == ("INFO", 9) and done.time_unix_nano > 0


def test_a_json_line_with_a_bad_trace_id_keeps_no_trace() -> None:
    ns, level, number, logger, body, attrs, trace, span = parse_line(
        json.dumps(
            {
                "timestamp": "nonsense",
                "levelname": "info",
                "name": "n",
                "event": "e",
                "trace_id": "zz" * 16,
                "span_id": "11" * 8,
            }
        )
    )
    assert (ns, level, number, logger, body, attrs, trace, span) == (0, "INFO", 9, "n", "e", {}, b"", b"")


def test_a_json_line_with_both_spellings_of_a_field_keeps_the_other_as_an_attribute() -> None:
    line = {"time": "2026-12-05T10:00:00Z", "timestamp": "t", "level": "warning", "levelname": "W"}
    line |= {"logger": "app", "name": "other", "message": "m", "event": "e"}
    ns, level, _number, logger, body, attrs, _trace, _span = parse_line(json.dumps(line))
    assert (level, logger, body) == ("WARNING", "app", "m") and ns > 0
    assert attrs == {"timestamp": "t", "levelname": "W", "name": "other", "event": "e"}
