"""The OTLP upload target, against a real OTLP/HTTP receiver on 127.0.0.1 that decodes the protobuf."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from otlp_receiver import Receiver, fast_options, free_port, wait_for

import runlog
from runlog._errors import UploadRejected
from runlog._upload import Uploader, make_target
from runlog._upload.otlp import OtlpTarget
from runlog.otel import RunLogExporter


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    """A running receiver on a free port of 127.0.0.1, stopped after the test."""
    r = Receiver().start()
    yield r
    r.stop()


def log_lines(run: runlog.Run) -> list[tuple[str, int, str]]:
    """(file, index, text) of every line of the run's driver logs."""
    out = []
    for name in run.get_file_names():
        if name.startswith("logs/driver_log"):
            text = (run.path / "files" / name).read_text(encoding="utf-8")
            out.extend((name, i, line) for i, line in enumerate(text.splitlines()))
    return out


def driver_lines(run: runlog.Run) -> list[str]:
    return (run.path / "files" / "logs" / "driver_log.txt").read_text(encoding="utf-8").splitlines()


def expected_points(run: runlog.Run) -> list[tuple[str, Any]]:
    """(name, value) of every numeric point the target should send, from the store."""
    out: list[tuple[str, Any]] = []
    for kind, name, value, _step, _ts in (e[:5] for e in run._reader.metric_events()):
        if kind == "s" and isinstance(value, (int, float)):
            out.append((name, int(value) if isinstance(value, bool) else value))
        elif kind == "l":
            out.extend((name, v) for v in value if isinstance(v, (int, float)))
        elif kind == "r":
            out.extend((f"{name}.{c}", v) for c, v in value.items() if isinstance(v, (int, float)))
    return out


def produce(run: runlog.Run, start: int, count: int, provider: LoggerProvider, tracer: Any) -> None:
    """Metric events of every numeric kind, string values, and driver-log lines from the exporter and plain text."""
    log = provider.get_logger("train")
    for i in range(start, start + count):
        run.log("loss", 1.0 / (i + 1), step=i)
        run.log("note", f"text {i}")  # a string: stays local
        if i % 10 == 0:
            run.log_list("lr", [0.1, 0.01])
            run.log_row("eval", acc=0.5 + i / 1000, split="val")
        with tracer.start_as_current_span(f"step-{i}"):
            log.emit(body=f"step {i}", severity_text="INFO", severity_number=SeverityNumber.INFO, attributes={"i": i})
        if i % 25 == 0:
            run._writer.write_log(f"plain print output {i}\n")


def test_exactly_once_across_an_outage_and_a_503_burst(exp: runlog.Experiment) -> None:
    """Every driver-log line and metric point arrives exactly once although the receiver is first down, then answers 503s."""
    port = free_port()
    run = exp.start_logging()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(RunLogExporter()))
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer = tracer_provider.get_tracer("test")
    produce(run, 0, 120, provider, tracer)

    target = OtlpTarget(f"http://127.0.0.1:{port}")
    failures: list[str] = []
    post = target._post

    def counting_post(signal: str, body: bytes) -> None:
        try:
            post(signal, body)
        except runlog.RunlogError as exc:
            failures.append(str(exc))
            raise

    target._post = counting_post  # type: ignore[method-assign]
    uploader = Uploader(run.path, target, fast_options()).start()
    receiver = Receiver(port)
    try:
        wait_for(lambda: len(failures) >= 3)  # down at start: connection refused, retried
        receiver.refuse = 6  # then up, answering a burst of 503s first
        receiver.start()
        produce(run, 120, 60, provider, tracer)  # logged while the upload is catching up
        wait_for(lambda: receiver.refused == 6 and len(receiver.points) > 0)
        receiver.stop()  # an outage in the middle of the run
        before = len(failures)
        produce(run, 180, 60, provider, tracer)
        wait_for(lambda: len(failures) >= before + 3)
        receiver.start()  # back, on the same port
        produce(run, 240, 30, provider, tracer)
        run.complete()
        assert uploader.finish(60), uploader.last_error
    finally:
        uploader.stop()
        receiver.stop()
        provider.shutdown()
        tracer_provider.shutdown()
    assert any("503" in f for f in failures) and any("refused" in f.lower() for f in failures)

    lines = log_lines(run)
    got_logs = [r for r in receiver.logs if "runlog.log" in r["attributes"]]
    keys = [(r["attributes"]["runlog.log"], r["attributes"]["runlog.seq"]) for r in got_logs]
    assert len(keys) == len(set(keys)) == len(lines)  # exactly once
    assert sorted(keys) == sorted((name, i) for name, i, _ in lines)
    by_key = {k: r for k, r in zip(keys, got_logs)}
    exporter_line = next(r for r in got_logs if r["body"] == 'step 7 {"i": 7}')  # the line's text, kept whole
    assert exporter_line["severity"] == "INFO" and exporter_line["scope"] == "train"
    assert len(exporter_line["trace_id"]) == 32 and len(exporter_line["span_id"]) == 16
    assert exporter_line["attributes"]["runlog.log"] == "logs/driver_log.txt"
    assert exporter_line["time"] > 0
    plain = [r for r in got_logs if str(r["body"]).startswith("plain print output")]
    assert len(plain) == 11 and all(r["time"] == 0 and r["severity"] == "" for r in plain)
    assert all(by_key[(n, i)]["body"] in text for n, i, text in lines)

    expected = expected_points(run)
    got_points = [(p["name"], p["value"]) for p in receiver.points]
    identities = [(p["name"], p["time"]) for p in receiver.points]
    assert len(identities) == len(set(identities))  # exactly once
    assert sorted(got_points) == sorted(expected)
    assert not any(name == "note" for name, _ in got_points)
    resource = receiver.points[0]["resource"]
    assert resource["runlog.run_id"] == run.id == resource["service.instance.id"]
    assert resource["runlog.experiment"] == exp.name == resource["service.name"]
    status = [r for r in receiver.logs if r["attributes"].get("runlog.event") == "status"]
    assert [r["attributes"]["runlog.status"] for r in status] == ["Completed"]


def test_resend_after_lost_cursor_is_recognisable(exp: runlog.Experiment, receiver: Receiver) -> None:
    """Sending again without the saved cursor (a crash after a 2xx) repeats identical identities: deduplication is exact."""
    run = exp.start_logging()
    for i in range(30):
        run.log("loss", i * 0.5, step=i)
    run._writer.write_log("".join(f"line {i}\n" for i in range(40)))
    run.complete()
    options = fast_options()
    assert Uploader(run.path, OtlpTarget(receiver.url), options).sync(timeout=30)
    first_logs, first_points = list(receiver.logs), list(receiver.points)
    for cursor in (run.path / "upload").glob("otlp-*.json"):
        cursor.unlink()  # as if the process died before saving it
    assert Uploader(run.path, OtlpTarget(receiver.url), options).sync(timeout=30)

    def log_key(r: dict[str, Any]) -> tuple[Any, ...]:
        a = r["attributes"]
        return (a.get("runlog.log", ""), a.get("runlog.seq", -1), a.get("runlog.event", ""))

    assert sorted(map(log_key, receiver.logs[len(first_logs) :])) == sorted(map(log_key, first_logs))
    assert len({log_key(r) for r in receiver.logs}) == len(first_logs) == 40 + 1
    second = [(p["name"], p["time"], p["value"]) for p in receiver.points[len(first_points) :]]
    assert sorted(second) == sorted((p["name"], p["time"], p["value"]) for p in first_points)
    assert len({(p["name"], p["time"]) for p in receiver.points}) == 30


def test_killed_between_a_2xx_and_the_cursor_save(exp: runlog.Experiment, receiver: Receiver) -> None:
    """An uploader process that dies right after an acknowledged batch re-sends it on resume: identical, so deduplicable."""
    import os
    import subprocess
    import sys

    from runlog._upload._delivery import TEST_EXIT_ENV

    run = exp.start_logging()
    for i in range(1500):  # two batches of at most 1000 points
        run.log("loss", i / 1500, step=i)
    run.complete()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from runlog._upload import Uploader, UploadOptions\n"
        "from runlog._upload.otlp import OtlpTarget\n"
        "Uploader(Path(sys.argv[1]), OtlpTarget(sys.argv[2]), UploadOptions(retry_initial=0.02)).sync(timeout=30)\n"
    )
    env = {**os.environ, TEST_EXIT_ENV: "1"}
    died = subprocess.run([sys.executable, "-c", code, str(run.path), receiver.url], env=env, timeout=60)
    assert died.returncode == 75  # the test hook: exit after the first acknowledged batch, before saving
    first = len(receiver.points)
    assert first == 1000
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    identities = [(p["name"], p["time"], p["value"]) for p in receiver.points]
    assert len(identities) == 2500  # the first batch twice: OTLP receivers do not deduplicate
    assert len(set(identities)) == 1500  # but every re-sent point is identical to the first one
    assert sorted(v for _, _, v in set(identities)) == sorted(i / 1500 for i in range(1500))


def test_large_table_is_split_into_requests(exp: runlog.Experiment, receiver: Receiver) -> None:
    """A table of 1,200 numeric cells is sent as requests of at most 1,000 points, each cell once."""
    run = exp.start_logging()
    run.log_table("curve", {"x": list(range(600)), "y": [i * 0.5 for i in range(600)], "label": ["a"] * 600})
    run.complete()
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    assert receiver.paths.count("/v1/metrics") == 2
    assert sorted(p["value"] for p in receiver.points if p["name"] == "curve.y") == [i * 0.5 for i in range(600)]
    assert len({(p["name"], p["time"]) for p in receiver.points}) == len(receiver.points) == 1200


def test_a_second_sync_sends_nothing(exp: runlog.Experiment, receiver: Receiver) -> None:
    """With the cursor saved, syncing again sends no record and no point."""
    run = exp.start_logging()
    run.log("x", 1)
    run._writer.write_log("hello\n")
    run.complete()
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    before = (len(receiver.logs), len(receiver.points))
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    assert (len(receiver.logs), len(receiver.points)) == before == (2, 1)


def test_rejected_batch_is_set_aside_and_the_rest_flows(exp: runlog.Experiment, receiver: Receiver) -> None:
    """A 400 for one metric puts that batch in the dead-letter file; other metrics and the logs still arrive."""
    run = exp.start_logging()
    run.log("good", 1.0)
    run.log("poison", 2.0)
    run.log("good", 3.0)
    run._writer.write_log("a line\n")
    run.complete()
    receiver.reject = "poison"
    uploader = Uploader(run.path, OtlpTarget(receiver.url), fast_options())
    assert uploader.sync(timeout=30)
    assert sorted(p["value"] for p in receiver.points) == [1.0, 3.0]
    assert [r["body"] for r in receiver.logs if "runlog.log" in r["attributes"]] == ["a line"]
    dead = (run.path / "upload" / f"{uploader.target.name}.dead.jsonl").read_text()
    assert "poison" in dead and "HTTP 400" in dead


def test_a_refused_log_line_is_skipped_and_the_rest_of_the_log_flows(
    exp: runlog.Experiment, receiver: Receiver
) -> None:
    """A 400 for the request holding one log line: the requests are halved until that line is alone, it is
    skipped and named in the dead-letter file, every other line arrives once, and a later pass sends nothing again."""
    run = exp.start_logging()
    run._writer.write_log(
        "".join(f"line {i}\n" for i in range(40)) + "poison line\n" + "".join(f"after {i}\n" for i in range(40))
    )
    run.complete()
    receiver.reject_log = "poison"
    uploader = Uploader(run.path, OtlpTarget(receiver.url), fast_options())
    assert uploader.sync(timeout=30)
    bodies = [r["body"] for r in receiver.logs if r["attributes"].get("runlog.log") == "logs/driver_log.txt"]
    assert bodies == [f"line {i}" for i in range(40)] + [f"after {i}" for i in range(40)]
    dead = (run.path / "upload" / f"{uploader.target.name}.dead.jsonl").read_text()
    assert "a line of logs/driver_log.txt bytes 310-322 was refused and skipped" in dead and "HTTP 400" in dead
    receiver.reject_log = None
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    assert len([r for r in receiver.logs if r["attributes"].get("runlog.log") == "logs/driver_log.txt"]) == 80


def test_an_endpoint_refusing_every_log_request_skips_nothing(exp: runlog.Experiment, receiver: Receiver) -> None:
    """Every log request answered 400 (the endpoint's fault, not one line's): a few requests, no line skipped,
    the position kept; once the endpoint takes logs, a later sync of the finished run sends every line."""
    run = exp.start_logging()
    run._writer.write_log("".join(f"line {i}\n" for i in range(50)))
    run.complete()
    receiver.reject_log = "line"
    first = Uploader(run.path, OtlpTarget(receiver.url), fast_options())
    first.sync(timeout=30)
    requests = [p for p in receiver.paths if p == "/v1/logs"]
    assert [r for r in receiver.logs if r["attributes"].get("runlog.log")] == [] and len(requests) <= 12
    cursor = json.loads((run.path / "upload" / f"{first.target.name}.json").read_text())
    assert cursor["remote"]["logs"].get("logs/driver_log.txt", [0, 0]) == [0, 0]
    receiver.reject_log = None
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    bodies = [r["body"] for r in receiver.logs if r["attributes"].get("runlog.log") == "logs/driver_log.txt"]
    assert bodies == [f"line {i}" for i in range(50)]


def test_a_line_set_aside_before_a_credentials_error_is_recorded_and_the_rest_follows(
    exp: runlog.Experiment, receiver: Receiver
) -> None:
    """A refused line is set aside at once (dead-letter file) even when a later request of the same pass fails
    for another reason (401); that failure keeps the position, and the rest of the log goes once it is fixed."""
    run = exp.start_logging()
    run._writer.write_log(
        "".join(f"line {i}\n" for i in range(20)) + "poison\n" + "".join(f"after {i}\n" for i in range(20))
    )
    run.complete()
    receiver.reject_log = "poison"
    target = OtlpTarget(receiver.url)
    real_post = target._post

    def post(signal: str, body: bytes) -> None:
        if signal == "logs" and b"after 1" in body and b"poison" not in body:
            raise UploadRejected("HTTP 401", status=401)
        real_post(signal, body)

    target._post = post  # type: ignore[method-assign]
    up = Uploader(run.path, target, fast_options())
    up.sync(timeout=30)
    dead = (run.path / "upload" / f"{target.name}.dead.jsonl").read_text()
    assert "a line of logs/driver_log.txt bytes" in dead and "poison" not in [r["body"] for r in receiver.logs]
    assert "HTTP 401" in dead
    receiver.reject_log = None
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    bodies = [r["body"] for r in receiver.logs if r["attributes"].get("runlog.log") == "logs/driver_log.txt"]
    assert bodies.count("line 0") == 1 and bodies.count("after 19") == 1 and "poison" not in bodies
    assert sorted(bodies) == sorted([f"line {i}" for i in range(20)] + [f"after {i}" for i in range(20)])


def test_a_crash_in_the_middle_of_a_long_log_resends_at_most_one_request(
    exp: runlog.Experiment, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log position is saved after every acknowledged request: an uploader that dies during the 4th
    request of a log (sent in requests of 10 lines) resumes there, and every line arrives exactly once."""
    from runlog._upload import otlp as otlp_module

    monkeypatch.setattr(otlp_module, "MAX_RECORDS", 10)
    run = exp.start_logging()
    run._writer.write_log("".join(f"line {i}\n" for i in range(60)))
    run.complete()
    target = OtlpTarget(receiver.url)
    real_post, posts = target._post, []

    def dying_post(signal: str, body: bytes) -> None:
        if signal == "logs":
            posts.append(1)
            if len(posts) == 4:
                raise SystemExit("killed")  # the process dies: nothing after this runs
        real_post(signal, body)

    target._post = dying_post  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        Uploader(run.path, target, fast_options()).step(final=True)
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    bodies = [r["body"] for r in receiver.logs if r["attributes"].get("runlog.log") == "logs/driver_log.txt"]
    assert bodies == [f"line {i}" for i in range(60)]


def test_configuration_from_otel_environment(
    monkeypatch: pytest.MonkeyPatch, exp: runlog.Experiment, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT/HEADERS/COMPRESSION are honoured; headers are sent and never logged."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url + "/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cr3t-token,x-tenant=team-a")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "trainer")
    caplog.set_level(logging.DEBUG, logger="runlog")
    target = OtlpTarget()
    assert target.config.logs_url == receiver.url + "/v1/logs"
    assert target.config.metrics_url == receiver.url + "/v1/metrics"
    assert target.endpoint == receiver.url
    run = exp.start_logging()
    run.log("x", 1)
    run._writer.write_log("hello\n")
    run.complete()
    assert Uploader(run.path, target, fast_options()).sync(timeout=30)
    assert receiver.headers and all(h["authorization"] == "Bearer s3cr3t-token" for h in receiver.headers)
    assert all(h["x-tenant"] == "team-a" and h["content-encoding"] == "gzip" for h in receiver.headers)
    assert receiver.points[0]["resource"]["service.name"] == "trainer"
    assert caplog.records and "s3cr3t" not in caplog.text
    assert "s3cr3t" not in "".join(p.read_text() for p in (run.path / "upload").glob("*.json"))


def test_live_upload_of_a_run_on_an_otlp_workspace(store: Path, receiver: Receiver) -> None:
    """Workspace(tracking_uri='otlp+http://...'): the run uploads in the background and run.complete() waits for it."""
    ws = runlog.Workspace(store, tracking_uri=f"otlp+{receiver.url}")
    run = runlog.Experiment(ws, "live").start_logging()
    for i in range(50):
        run.log("acc", i / 50, step=i)
    run._writer.write_log("".join(f"epoch {i}\n" for i in range(5)))
    run.complete()
    assert sorted(p["value"] for p in receiver.points) == [i / 50 for i in range(50)]
    bodies = [r["body"] for r in receiver.logs if "runlog.log" in r["attributes"]]
    assert bodies == [f"epoch {i}" for i in range(5)]
    assert [r["body"] for r in receiver.logs if "runlog.status" in r["attributes"]] == [f"run {run.id} Completed"]


def test_only_driver_logs_are_sent(exp: runlog.Experiment, receiver: Receiver) -> None:
    """Driver logs of every process are sent; runlog's system logs and other files are not."""
    run = exp.start_logging()
    run._writer.write_log("main\n")
    run._writer.write_log("rank one\n", "logs/driver_log_rank_1.txt")
    run._writer.write_log("uploading batch 3\n", "logs/runlog_system.txt")
    run.upload_file("outputs/model.txt", io.StringIO("weights"))
    run.complete()
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    sent = sorted((r["attributes"]["runlog.log"], r["body"]) for r in receiver.logs if "runlog.log" in r["attributes"])
    assert sent == [("logs/driver_log.txt", "main"), ("logs/driver_log_rank_1.txt", "rank one")]


def test_driver_log_replaced_under_the_uploader(exp: runlog.Experiment, receiver: Receiver) -> None:
    """A driver log removed and written again is sent from its start, numbering going on (no line lost or reused)."""
    run = exp.start_logging()
    run._writer.write_log("".join(f"old {i}\n" for i in range(5)))
    target = OtlpTarget(receiver.url)
    assert Uploader(run.path, target, fast_options()).sync(timeout=30)
    log_file = run.path / "files" / "logs" / "driver_log.txt"
    log_file.unlink()
    log_file.write_text("new 0\nnew 1\n")
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    got = [(r["attributes"]["runlog.seq"], r["body"]) for r in receiver.logs if "runlog.log" in r["attributes"]]
    assert got == [*((i, f"old {i}") for i in range(5)), (5, "new 0"), (6, "new 1")]


def test_a_record_and_its_traceback_are_one_log_record(exp: runlog.Experiment, receiver: Receiver) -> None:
    """A record logged with its exception is one OTLP record; a printed traceback is one; other lines stay single."""
    run = exp.start_logging()
    logger = logging.getLogger("otlp.tb")
    logger.propagate = False
    handler = runlog.RunHandler()
    logger.addHandler(handler)
    try:
        try:
            try:
                raise KeyError("k")
            except KeyError as exc:
                raise ValueError("bad row") from exc
        except ValueError:
            logger.exception("failed")
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
        handler.close()
    run._writer.write_log('Epoch 1/3\nTraceback (most recent call last):\n  File "t.py", line 1\nSystemExit: 2\nbye\n')
    run.complete()
    assert Uploader(run.path, OtlpTarget(receiver.url), fast_options()).sync(timeout=30)
    records = [r for r in receiver.logs if "runlog.log" in r["attributes"]]
    failed = records[0]
    assert failed["severity"] == "ERROR" and str(failed["body"]).startswith(
        "failed\nTraceback (most recent call last):"
    )
    assert "The above exception was the direct cause" in failed["body"] and failed["body"].endswith(
        "ValueError: bad row"
    )
    assert [str(r["body"]).split("\n")[0] for r in records[1:]] == [
        "after", "Epoch 1/3", "Traceback (most recent call last):", "bye",
    ]  # fmt: skip
    assert records[3]["body"].endswith("SystemExit: 2")
    covered = [
        r["attributes"]["runlog.seq"] + i for r in records for i in range(r["attributes"].get("runlog.lines", 1))
    ]
    assert covered == list(range(len(driver_lines(run))))  # every line once, in order


class _Redirecting:
    """An endpoint in front of a login page: every POST answers 302 to /login, whose GET answers 200."""

    def __init__(self) -> None:
        self.gets: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(302)
                self.send_header("Location", "/login")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                outer.gets.append({k.lower(): v for k, v in self.headers.items()})
                payload = b"<html>please log in</html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def test_a_redirect_is_not_taken_for_an_acknowledgement(exp: runlog.Experiment) -> None:
    """A 302 answer to a POST is not followed as a GET (whose 200 would mark unsent data as sent, with the headers)."""
    endpoint = _Redirecting()
    try:
        run = exp.start_logging()
        run.log("x", 1.0)
        run._writer.write_log("a line\n")
        run.complete()
        target = OtlpTarget(endpoint.url, headers={"authorization": "Bearer s3cr3t-token"})
        uploader = Uploader(run.path, target, fast_options())
        with pytest.raises(UploadRejected, match="HTTP 302") as refused:
            uploader.sync(timeout=30)
    finally:
        endpoint.stop()
    assert endpoint.gets == []  # neither the data nor the credentials went anywhere else
    assert "redirects to" in refused.value.hint
    # Refused for where it was sent, not for what it holds: nothing is set aside, nothing counted as
    # delivered, so a sync to the fixed address sends it all.
    assert uploader.last_failure is not None and uploader.last_failure.status == 302
    assert uploader.stats.dead_letters == 0 and uploader.pending().metric_events == 1
    assert not (run.path / "upload" / f"{target.name}.dead.jsonl").exists()


def test_credentials_in_the_endpoint_url_are_sent_as_basic_auth(exp: runlog.Experiment, receiver: Receiver) -> None:
    """`otlp+http://user:password@host:4318`: the user info becomes an Authorization header (urllib would look up the host `user:password@host`)."""
    run = exp.start_logging()
    run.log("x", 1.0)
    run.complete()
    url = receiver.url.replace("http://", "http://ada:pa%3Ass@")
    target = make_target(f"otlp+{url}", fast_options())
    assert isinstance(target, OtlpTarget) and "pa%3Ass" not in target.endpoint and "ada" not in target.endpoint
    assert Uploader(run.path, target, fast_options()).sync(timeout=10)
    assert [p["value"] for p in receiver.points] == [1.0]
    assert {h["authorization"] for h in receiver.headers} == {"Basic YWRhOnBhOnNz"}  # base64("ada:pa:ss")
