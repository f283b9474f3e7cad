"""runlog.stdlib: RunHandler wiring, tagged metric events, driver-log naming, buffering, failures, trace ids."""

from __future__ import annotations

import gc
import itertools
import json
import logging
import logging.config
import multiprocessing
import os
import re
import shutil
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _fd_helpers import recorded_writes
from _logging_helpers import restored_logging
from _repo import EXAMPLES
from click.testing import CliRunner

import runlog
from runlog._capture import excepthook as _excepthook
from runlog.cli import main as cli_main
from runlog.stdlib import RunFormatter

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:.*$")


@pytest.fixture(autouse=True)
def _restore_hooks() -> Iterator[None]:
    """RunHandler installs exception hooks and sets module flags: put them back after each test."""
    with restored_logging():
        yield
    _excepthook.json_lines = False


def no_root_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.root, "handlers", [])


def _only_handler(name: str, handler: logging.Handler) -> logging.Logger:
    """A logger at INFO whose only handler is ``handler`` (not propagating)."""
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def _handle_errors(handler: logging.Handler) -> list[BaseException | None]:
    """The exceptions ``handler.handleError`` is called with, from now on."""
    errors: list[BaseException | None] = []
    handler.handleError = lambda record: errors.append(sys.exc_info()[1])  # type: ignore[method-assign]
    return errors


def log_text(run: runlog.Run, name: str = "logs/driver_log.txt") -> str:
    path = run.path / "files" / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_basicconfig_writes_formatted_lines(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """basicConfig with a RunHandler: each record is one line in basicConfig's format with an ISO UTC timestamp."""
    no_root_handlers(monkeypatch)
    logging.basicConfig(level=logging.INFO, handlers=[logging.StreamHandler(), runlog.RunHandler()])
    run = exp.start_logging()
    logging.getLogger("train").info("epoch %d done", 1)
    logging.getLogger("train").debug("not at this level")
    lines = log_text(run).splitlines()
    assert len(lines) == 1
    assert LINE.match(lines[0]) and lines[0].endswith(" INFO:train:epoch 1 done")


def test_addhandler_and_exception_block(exp: runlog.Experiment) -> None:
    """addHandler on the root logger: an exception record is written whole, traceback included."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(runlog.RunHandler())
    run = exp.start_logging()
    try:
        raise ValueError("bad batch")
    except ValueError:
        logging.getLogger("app").exception("step failed")
    text = log_text(run)
    assert "ERROR:app:step failed\nTraceback (most recent call last):" in text
    assert text.endswith("ValueError: bad batch\n")


def test_dictconfig_class_form_with_formatter(exp: runlog.Experiment) -> None:
    """dictConfig {"class": "runlog.RunHandler"} takes the configured formatter and level."""
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"short": {"format": "%(levelname)s|%(name)s|%(message)s"}},
        "handlers": {"run": {"class": "runlog.RunHandler", "level": "WARNING", "formatter": "short"}},
        "root": {"level": "DEBUG", "handlers": ["run"]},
    })  # fmt: skip
    run = exp.start_logging()
    logging.getLogger("svc").info("quiet")
    logging.getLogger("svc").warning("loud")
    assert log_text(run) == "WARNING|svc|loud\n"


def test_dictconfig_factory_form_json(exp: runlog.Experiment) -> None:
    """dictConfig {"()": "runlog.RunHandler", "json": True} writes JSON lines with the extra fields."""
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"run": {"()": "runlog.RunHandler", "json": True, "level": "INFO"}},
        "root": {"level": "INFO", "handlers": ["run"]},
    })  # fmt: skip
    run = exp.start_logging()
    logging.getLogger("svc").info("user %s", "ann", extra={"user_id": 7, **runlog.metrics(loss=0.5, step=2)})
    (line,) = log_text(run).splitlines()
    data = json.loads(line)
    assert data["message"] == "user ann" and data["level"] == "INFO" and data["logger"] == "svc"
    assert data["user_id"] == 7 and data["metrics"] == {"loss": 0.5} and data["step"] == 2
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", data["time"])
    assert run.get_metrics() == {"loss": 0.5}


def test_fileconfig(exp: runlog.Experiment, tmp_path: Path) -> None:
    """fileConfig with class=runlog.RunHandler (kwargs json) works."""
    ini = tmp_path / "logging.ini"
    ini.write_text(textwrap.dedent("""\
        [loggers]
        keys=root
        [handlers]
        keys=run
        [formatters]
        keys=plain
        [logger_root]
        level=INFO
        handlers=run
        [handler_run]
        class=runlog.RunHandler
        level=INFO
        formatter=plain
        args=()
        [formatter_plain]
        format=%(name)s says %(message)s
        """))
    logging.config.fileConfig(ini, disable_existing_loggers=False)
    run = exp.start_logging()
    logging.getLogger("cfg").info("hello")
    assert log_text(run) == "cfg says hello\n"


def test_a_formatter_like_object_without_attributes_is_used_as_is(exp: runlog.Experiment) -> None:
    """Any object with format(record) (here one with __slots__, so no __dict__) works as the handler's
    formatter, record after record, and replacing it is noticed."""

    class Upper:
        __slots__ = ()

        def format(self, record: logging.LogRecord) -> str:
            return record.getMessage().upper()

    run = exp.start_logging()
    handler = runlog.RunHandler(formatter=Upper())  # type: ignore[arg-type]
    log = _only_handler("slotted.formatter", handler)
    log.info("one")
    log.info("two")
    handler.setFormatter(logging.Formatter("%(message)s!"))
    log.info("three")
    assert log_text(run) == "ONE\nTWO\nthree!\n"
    assert handler._failing is False
    run.complete()


def test_a_subclass_overriding_emit_and_filters_still_work(exp: runlog.Experiment) -> None:
    """handle() writes records itself, but a subclass's emit() still runs for every record (and its
    super().emit() writes it), and a filter still drops records."""
    seen: list[str] = []

    class Counting(runlog.RunHandler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())
            super().emit(record)

    run = exp.start_logging()
    handler = Counting()
    handler.addFilter(lambda record: "secret" not in record.getMessage())
    log = _only_handler("subclass.emit", handler)
    log.info("one")
    log.info("a secret")
    log.info("two")
    assert seen == ["one", "two"]
    assert [line.rsplit(":", 1)[-1] for line in log_text(run).splitlines()] == ["one", "two"]
    run.complete()


def test_a_tagged_record_is_one_write_for_its_line_and_one_for_its_points(
    exp: runlog.Experiment, handler_class: type[runlog.RunHandler]
) -> None:
    """A tagged record through RunHandler (compiled format) is exactly two writes: its whole line to the driver
    log and all its values to the points file (two files, so two writes; each is whole on kill -9). Counted
    under the descriptors: the C ``handle`` calls write(2) itself."""
    run = exp.start_logging()
    log = _only_handler("tagged.writes", handler_class())
    log.info("warm-up", extra=runlog.metrics(loss=1.0, acc=0.0, step=0))  # opens the files, defines the names
    writer = run._writer
    log_fd, points_fd = writer._log_fds["logs/driver_log.txt"], writer._points_fd
    with recorded_writes(log_fd, points_fd) as writes:
        log.info("epoch %d done", 1, extra=runlog.metrics(loss=0.5, acc=0.75, step=1))
    assert [len(writes[log_fd]), len(writes[points_fd])] == [1, 1]
    assert writes[log_fd][0].endswith(b" INFO:tagged.writes:epoch 1 done\n") and len(writes[points_fd][0]) == 2 * 32
    assert run.get_metrics() == {"loss": [1.0, 0.5], "acc": [0.0, 0.75]}
    assert log_text(run).splitlines()[-1].endswith("epoch 1 done")
    run.complete()


UTC_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
LOCAL_STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


def test_a_new_runhandler_has_no_formatter_until_given_one(exp: runlog.Experiment) -> None:
    """RunHandler() has no formatter (so basicConfig can give it one) and writes runlog's default line; a
    formatter set later with setFormatter is used from the next record on."""
    handler = runlog.RunHandler()
    assert handler.formatter is None
    assert runlog.RunHandler(fmt="%(message)s").formatter is not None
    assert runlog.RunHandler(datefmt="%H").formatter is not None
    run = exp.start_logging()
    log = _only_handler("plain.default", handler)
    log.info("first")
    handler.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
    log.info("second")
    first, second = log_text(run).splitlines()
    assert re.fullmatch(UTC_STAMP + " INFO:plain.default:first", first)
    assert second == "INFO|second"


def test_basicconfig_format_reaches_the_driver_log(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """basicConfig(format=..., handlers=[StreamHandler(), RunHandler()]): the driver log has the user's format,
    exactly as the console does."""
    no_root_handlers(monkeypatch)
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s|%(name)s|%(message)s",
        handlers=[logging.StreamHandler(), runlog.RunHandler()],
    )
    run = exp.start_logging()
    logging.getLogger("app").info("hello %s", "world")
    assert log_text(run) == "INFO|app|hello world\n"
    assert capsys.readouterr().err == "INFO|app|hello world\n"


def test_basicconfig_asctime_without_datefmt_is_utc_in_the_driver_log_only(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A format with asctime and no datefmt: the driver log gets runlog's UTC ISO time, the console keeps the
    stdlib's local time (the formatter they share is not changed)."""
    no_root_handlers(monkeypatch)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s",
        handlers=[logging.StreamHandler(), runlog.RunHandler()],
    )
    run = exp.start_logging()
    logging.getLogger("app").warning("careful")
    assert re.fullmatch(UTC_STAMP + r" \[WARNING\] app: careful\n", log_text(run))
    assert re.fullmatch(LOCAL_STAMP + r" \[WARNING\] app: careful\n", capsys.readouterr().err)
    shared = logging.root.handlers[0].formatter
    assert shared is logging.root.handlers[1].formatter and type(shared) is logging.Formatter
    assert "formatTime" not in vars(shared) and shared.datefmt is None


def test_time_settings_changed_on_the_formatter_class_later_reach_the_next_record(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``logging.Formatter.converter = time.gmtime`` or ``default_msec_format`` set on the class after the handler
    wrote with runlog's UTC time: the records from the handler's next once-a-second check on have what the
    formatter's own formatTime gives (as for settings made before), and with the class's settings back,
    runlog's UTC time again. (Records 1.5 s apart here: each is the first of its second.)"""
    no_root_handlers(monkeypatch)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=[runlog.RunHandler()])
    run = exp.start_logging()
    shared = logging.root.handlers[0].formatter
    assert shared is not None
    lines: list[tuple[str, str]] = []

    clock = itertools.count(time.time(), 1.5)

    def log_one(msg: str) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, msg, (), None)
        record.created = next(clock)
        logging.getLogger("x").handle(record)
        lines.append((log_text(run).splitlines()[-1], shared.format(logging.makeLogRecord(record.__dict__))))

    log_one("iso")
    monkeypatch.setattr(logging.Formatter, "converter", time.gmtime)
    log_one("gmtime")
    monkeypatch.setattr(logging.Formatter, "default_msec_format", "%s.%03d")
    log_one("dot")
    monkeypatch.setattr(logging.Formatter, "converter", time.localtime)
    monkeypatch.setattr(logging.Formatter, "default_msec_format", "%s,%03d")
    log_one("iso again")
    assert re.fullmatch(UTC_STAMP + " iso", lines[0][0]) and re.fullmatch(UTC_STAMP + " iso again", lines[3][0])
    assert lines[1][0] == lines[1][1] and re.fullmatch(LOCAL_STAMP + " gmtime", lines[1][0])
    assert lines[2][0] == lines[2][1] and re.fullmatch(LOCAL_STAMP.replace(",", r"\.") + " dot", lines[2][0])
    run.complete()


def test_basicconfig_datefmt_is_kept(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """basicConfig(format=..., datefmt=...): the driver log's time is time.strftime(datefmt) of local time, as
    the stdlib's; basicConfig(datefmt=...) without a format: runlog's default format with that datefmt."""
    no_root_handlers(monkeypatch)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%Y/%m/%d", handlers=[runlog.RunHandler()])
    run = exp.start_logging()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "dated", (), None)
    logging.getLogger("x").handle(record)
    assert log_text(run) == time.strftime("%Y/%m/%d", time.localtime(record.created)) + " dated\n"
    run.complete()
    no_root_handlers(monkeypatch)
    logging.basicConfig(level=logging.INFO, datefmt="%H:%M", handlers=[runlog.RunHandler()])
    run = exp.start_logging()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "no format", (), None)
    logging.getLogger("x").handle(record)
    assert log_text(run) == time.strftime("%H:%M", time.localtime(record.created)) + " INFO:x:no format\n"


def test_basicconfig_without_format_keeps_the_default_in_every_style(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """basicConfig without format= hands its own default (per style) to the handler: that is read as 'no
    format named', so the driver log keeps runlog's timestamped default line."""
    for style in ("%", "{", "$"):
        no_root_handlers(monkeypatch)
        logging.basicConfig(level=logging.INFO, style=style, handlers=[runlog.RunHandler()])  # type: ignore[arg-type]
        run = exp.start_logging()
        logging.getLogger("s").info("style %s", style)
        assert re.fullmatch(UTC_STAMP + f" INFO:s:style \\{style}\n", log_text(run)), style
        run.complete()


def test_dictconfig_and_fileconfig_formats_with_asctime(exp: runlog.Experiment, tmp_path: Path) -> None:
    """dictConfig and fileConfig formats reach the driver log: asctime without datefmt as runlog's UTC time,
    with datefmt as time.strftime(datefmt)."""
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"stamped": {"format": "%(asctime)s %(levelname)-7s %(name)s %(message)s"}},
        "handlers": {"run": {"class": "runlog.RunHandler", "formatter": "stamped"}},
        "root": {"level": "INFO", "handlers": ["run"]},
    })  # fmt: skip
    run = exp.start_logging()
    logging.getLogger("svc").info("from dictConfig")
    assert re.fullmatch(UTC_STAMP + " INFO    svc from dictConfig\n", log_text(run))
    run.complete()
    ini = tmp_path / "logging.ini"
    ini.write_text(textwrap.dedent("""\
        [loggers]
        keys=root
        [handlers]
        keys=run
        [formatters]
        keys=dated
        [logger_root]
        level=INFO
        handlers=run
        [handler_run]
        class=runlog.RunHandler
        formatter=dated
        args=()
        [formatter_dated]
        format=%(asctime)s|%(name)s|%(message)s
        datefmt=%Y
        """))
    logging.config.fileConfig(ini, disable_existing_loggers=False)
    run = exp.start_logging()
    logging.getLogger("cfg").info("from fileConfig")
    assert log_text(run) == time.strftime("%Y") + "|cfg|from fileConfig\n"


def test_tagged_metric_events(exp: runlog.Experiment) -> None:
    """extra={"metrics":..., "step":...} and runlog.metrics() store values like run.log, and keep the line."""
    log = logging.getLogger("train")
    log.setLevel(logging.INFO)
    log.addHandler(runlog.RunHandler())
    run = exp.start_logging()
    log.info("epoch done", extra={"metrics": {"loss": 0.25, "acc": 0.75}, "step": 1})
    log.info("epoch done", extra=runlog.metrics(loss=0.125, acc=0.875, step=2))
    log.info("val", extra=runlog.metrics({"val/loss": 0.5}))
    assert run.get_metrics() == {"loss": [0.25, 0.125], "acc": [0.75, 0.875], "val/loss": 0.5}
    assert [p.step for p in run.get_metric_history("loss")] == [1, 2]
    assert log_text(run).count("INFO:train:epoch done") == 2


def test_metrics_helper_checks_values() -> None:
    """runlog.metrics() refuses lists, empty calls and bad steps at the call, with the fix in the message."""
    assert runlog.metrics(a=1) == {"metrics": {"a": 1}}
    with pytest.raises(runlog.InvalidMetricValue, match="log_list"):
        runlog.metrics(loss=[1, 2])
    with pytest.raises(ValueError, match="at least one metric"):
        runlog.metrics()
    with pytest.raises(runlog.InvalidMetricValue, match="step must be an int"):
        runlog.metrics(a=1, step="x")  # type: ignore[arg-type]


def test_bad_tagged_value_keeps_the_good_ones(exp: runlog.Experiment, caplog: pytest.LogCaptureFixture) -> None:
    """A tagged record with one bad value stores the others, warns once, and does not raise."""
    log = logging.getLogger("train")
    log.addHandler(runlog.RunHandler())
    log.setLevel(logging.INFO)
    run = exp.start_logging()
    with caplog.at_level(logging.WARNING, logger="runlog"):
        log.info("mixed", extra={"metrics": {"good": 1.0, "bad": [1, 2]}})
        log.info("mixed", extra={"metrics": {"good": 2.0, "bad": [1, 2]}})
    assert run.get_metrics() == {"good": [1.0, 2.0]}
    assert [r.getMessage() for r in caplog.records if "was not stored" in r.getMessage()].__len__() == 1
    assert log_text(run).count("INFO:train:mixed") == 2


def test_eight_threads_every_line_whole(exp: runlog.Experiment) -> None:
    """8 threads x 10,000 records: every line is in the driver log, whole, none interleaved."""
    log = logging.getLogger("load")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = runlog.RunHandler(fmt="%(message)s")
    log.addHandler(handler)
    run = exp.start_logging()

    def work(t: int) -> None:
        for i in range(10_000):
            log.info("t%d-%d-%s", t, i, "x" * (i % 50))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.removeHandler(handler)
    lines = log_text(run).splitlines()
    assert len(lines) == 80_000
    expected = {f"t{t}-{i}-{'x' * (i % 50)}" for t in range(8) for i in range(10_000)}
    assert set(lines) == expected


def test_threads_started_before_run_and_pools(exp: runlog.Experiment) -> None:
    """A thread started before the run and a thread pool log into the run started later."""
    log = logging.getLogger("bg")
    log.setLevel(logging.INFO)
    log.addHandler(runlog.RunHandler(fmt="%(message)s"))
    go, done = threading.Event(), threading.Event()

    def early() -> None:
        go.wait(10)
        log.info("from early thread")
        done.set()

    th = threading.Thread(target=early)
    th.start()
    run = exp.start_logging()
    go.set()
    assert done.wait(10)
    th.join()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: log.info("pool %d", i), range(8)))
    lines = log_text(run).splitlines()
    assert "from early thread" in lines
    assert sorted(x for x in lines if x.startswith("pool")) == [f"pool {i}" for i in range(8)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
def test_forked_child_logs_into_parents_run(exp: runlog.Experiment) -> None:
    """A forked child's records reach the parent's run in logs/driver_log_<pid>.txt, with its metrics."""
    log = logging.getLogger("fork")
    log.setLevel(logging.INFO)
    log.addHandler(runlog.RunHandler(fmt="%(process)d %(message)s"))
    run = exp.start_logging()
    log.info("parent before")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            log.info("child line", extra=runlog.metrics(child_metric=3.0, step=0))
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.info("parent after")
    assert log_text(run) == f"{os.getpid()} parent before\n{os.getpid()} parent after\n"
    assert log_text(run, f"logs/driver_log_{pid}.txt") == f"{pid} child line\n"
    assert run.get_metrics() == {"child_metric": 3.0}


def _spawned_child(queue: multiprocessing.Queue[int]) -> None:  # pragma: no cover - runs in the child
    import logging

    import runlog

    logging.basicConfig(level=logging.INFO, handlers=[runlog.RunHandler(fmt="%(message)s")])
    logging.getLogger("spawned").info("hello from the spawned child", extra=runlog.metrics(spawned=1))
    queue.put(os.getpid())


def test_spawned_child_logs_into_parents_run(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch, store: Path) -> None:
    """A spawned child finds the parent's run through RUNLOG_* variables and writes driver_log_<pid>.txt."""
    run = exp.start_logging()
    monkeypatch.setenv("RUNLOG_STORE", str(store))
    monkeypatch.setenv("RUNLOG_EXPERIMENT", exp.name)
    monkeypatch.setenv("RUNLOG_RUN_ID", run.id)
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[int] = ctx.Queue()
    proc = ctx.Process(target=_spawned_child, args=(queue,))
    proc.start()
    child_pid = queue.get(timeout=60)
    proc.join(60)
    assert proc.exitcode == 0
    assert log_text(run, f"logs/driver_log_{child_pid}.txt") == "hello from the spawned child\n"
    assert run.get_metrics() == {"spawned": 1}


def test_output_captured_skips_lines_printed_to_the_console(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With RUNLOG_OUTPUT_CAPTURED=1 a line a StreamHandler prints is not written twice; metrics still are."""
    monkeypatch.setenv("RUNLOG_OUTPUT_CAPTURED", "1")
    echo = logging.getLogger("echo")
    echo.setLevel(logging.INFO)
    echo.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    echo.addHandler(console)
    echo.addHandler(runlog.RunHandler(fmt="%(message)s"))
    run = exp.start_logging()
    echo.warning("printed by the console handler", extra=runlog.metrics(m=1))
    echo.info("below the console handler's level")
    assert log_text(run) == "below the console handler's level\n"
    assert run.get_metrics() == {"m": 1}


def test_trace_ids_in_text_json_and_fields(exp: runlog.Experiment) -> None:
    """With a recording OpenTelemetry span, text lines get a trace suffix, JSON lines fields, %(trace_id)s works."""
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    text, js = logging.getLogger("t.text"), logging.getLogger("t.json")
    fields = logging.getLogger("t.fields")
    for lg, handler in (
        (text, runlog.RunHandler(fmt="%(message)s")),
        (js, runlog.RunHandler(json=True)),
        (fields, runlog.RunHandler(formatter=logging.Formatter("%(message)s [%(trace_id)s/%(span_id)s]"))),
    ):
        lg.setLevel(logging.INFO)
        lg.propagate = False
        lg.addHandler(handler)
    run = exp.start_logging()
    text.info("outside")
    fields.info("outside")
    with tracer.start_as_current_span("step") as span:
        ctx = span.get_span_context()
        tid, sid = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        assert runlog._capture.trace.current_trace_ids() == (tid, sid)
        text.info("inside")
        js.info("inside")
        fields.info("inside")
    assert runlog._capture.trace.current_trace_ids() is None
    lines = log_text(run).splitlines()
    assert lines[:2] == ["outside", "outside [/]"]
    assert f"inside trace_id={tid} span_id={sid}" in lines
    assert f"inside [{tid}/{sid}]" in lines
    (data,) = [json.loads(x) for x in lines if x.startswith("{")]
    assert data["trace_id"] == tid and data["span_id"] == sid


def test_disk_full_does_not_raise_and_resumes(
    exp: runlog.Experiment, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A write error (ENOSPC) goes to handleError and one WARNING; logging resumes and counts the lost lines."""
    log = logging.getLogger("full")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = runlog.RunHandler(fmt="%(message)s")
    log.addHandler(handler)
    run = exp.start_logging()
    log.info("before")
    fd = run._writer._log_fds["logs/driver_log.txt"]
    saved = os.dup(fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, fd)
    try:
        with caplog.at_level(logging.WARNING, logger="runlog"):
            for i in range(3):
                log.info("lost %d", i)  # must not raise
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(full)
    log.info("after")
    assert "--- Logging error ---" in capsys.readouterr().err
    warnings = [r for r in caplog.records if "could not write to the run store" in r.getMessage()]
    assert len(warnings) == 1
    lines = log_text(run).splitlines()
    assert lines[:2] == ["before", "after"] and "3 record(s) could not be written" in lines[2]


def test_store_removed_under_the_handler(exp: runlog.Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    """Removing the run's folder while logging never raises; a removed log file alone is opened again."""
    log = logging.getLogger("gone")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = runlog.RunHandler(fmt="%(message)s")
    log.addHandler(handler)
    run = exp.start_logging()
    log.info("one")
    (run.path / "files" / "logs" / "driver_log.txt").unlink()
    handler._next_check = 0.0
    log.info("two")
    assert log_text(run) == "two\n"
    shutil.rmtree(run.path)
    handler._next_check = 0.0
    log.info("three")  # must not raise
    log.info("four")
    assert "--- Logging error ---" in capsys.readouterr().err
    assert not run.path.exists()


def test_close_is_idempotent_and_shutdown_keeps_lines(exp: runlog.Experiment) -> None:
    """handler.close() twice is fine; after logging.shutdown() every line is in the driver log."""
    handler = runlog.RunHandler(fmt="%(message)s")
    log = logging.getLogger("closing")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    run = exp.start_logging()
    for i in range(100):
        log.info("line %d", i)
    logging.shutdown([weakref.ref(handler)])
    handler.close()
    handler.close()
    log.removeHandler(handler)
    assert log_text(run).splitlines() == [f"line {i}" for i in range(100)]


def test_structlog_dict_message_is_rendered(exp: runlog.Experiment) -> None:
    """A structlog event dict reaching the default formatter is rendered as 'event key=value'."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, {"event": "hi", "a": 1, "_x": 2}, None, None)
    assert RunFormatter("%(message)s").format(record) == "hi a=1"
    assert record.msg == {"event": "hi", "a": 1, "_x": 2}


def test_logs_are_readable_back(exp: runlog.Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """runlog logs, get_file_names, download_file and get_details_with_logs show the driver log."""
    no_root_handlers(monkeypatch)
    logging.basicConfig(level=logging.DEBUG, handlers=[runlog.RunHandler(fmt="%(name)s %(message)s")])
    run = exp.start_logging()
    logging.getLogger("app").info("readable")
    assert "logs/driver_log.txt" in run.get_file_names() and "logs/runlog_system.txt" in run.get_file_names()
    result = CliRunner().invoke(cli_main, ["logs", run.id])
    assert result.exit_code == 0, result.output
    assert result.output == "app readable\n"  # the driver log only, not the system log
    result = CliRunner().invoke(cli_main, ["logs", run.id, "--name", "runlog_system.txt"])
    assert "runlog.stdlib" in result.output
    target = run.download_file("logs/driver_log.txt", tmp_path / "dl.txt")
    assert Path(target).read_text() == "app readable\n"
    assert run.get_details_with_logs()["logFiles"]["logs/driver_log.txt"] == "app readable\n"


def test_runlog_handler_repr_and_exports() -> None:
    """RunHandler and metrics are exported from runlog; the repr names the level."""
    assert "RunHandler" in runlog.__all__ and "metrics" in runlog.__all__
    assert repr(runlog.RunHandler(logging.INFO, json=True)) == "<RunHandler (INFO, json)>"


@pytest.mark.parametrize("name", ["logging_basicconfig.py", "existing_app.py"])
def test_examples_run(name: str, store: Path) -> None:
    """The stdlib examples run and leave a run with a driver log and metrics."""
    import subprocess

    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = list(store.glob("experiments/*/runs/*/files/logs/driver_log.txt"))
    assert found and found[0].read_text(), proc.stdout + proc.stderr
    assert list(store.glob("experiments/*/runs/*/events/*.metrics.jsonl"))


class _Shouting(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).upper()


@pytest.mark.parametrize(
    ("formatter", "reference"),
    [
        (RunFormatter(), None),
        (RunFormatter("%(levelname)s %(name)s %(message)s"), None),
        (logging.Formatter("%(asctime)s|%(levelname)s|%(message)s", datefmt="%Y/%m/%d %H:%M:%S"), None),
        # asctime without datefmt: runlog's UTC time (the issue-19 rule), i.e. RunFormatter's lines.
        (logging.Formatter("%(asctime)s %(message)s"), RunFormatter("%(asctime)s %(message)s")),
        (logging.Formatter("{asctime} {levelname} {message}", style="{"), RunFormatter("{asctime} {levelname} {message}", style="{")),
        (logging.Formatter("%(levelname)s %(message)s %(custom)s", defaults={"custom": "dflt"}), None),
        (_Shouting("%(asctime)s %(levelname)s %(message)s"), None),
    ],
    ids=["run-default", "run-fmt", "datefmt", "asctime", "brace", "defaults", "subclass"],
)
def test_each_line_is_exactly_what_the_formatter_makes(
    exp: runlog.Experiment, formatter: logging.Formatter, reference: logging.Formatter | None
) -> None:
    """RunHandler's compiled path for %-style formatters writes the same text as formatter.format(), for plain
    records, records with exceptions and stacks, and every other kind of formatter; a plain logging.Formatter
    using asctime without datefmt writes what RunFormatter with the same format writes (UTC time), and a
    subclass keeps its own time."""
    run = exp.start_logging()
    handler = runlog.RunHandler(formatter=formatter)
    log = _only_handler("fmt.check", handler)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log.addHandler(Keep())
    log.info("plain %d", 1)
    log.warning("with args %s %r", "a", [1])
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    log.info("with a stack", stack_info=True)
    log.handlers[:] = []
    reference = reference or formatter
    expected = "".join(reference.format(logging.makeLogRecord(dict(r.__dict__, exc_text=None))) + "\n" for r in records)
    assert log_text(run) == expected
    run.complete()


def test_a_formatter_changed_after_its_first_record_is_followed(exp: runlog.Experiment) -> None:
    """A new datefmt, a new style, or a method replaced on the formatter instance after RunHandler wrote with
    it: each later line is still exactly formatter.format(record); a format naming a missing field is an error
    of handleError (the record is reported, nothing raises)."""
    run = exp.start_logging()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M")
    handler = runlog.RunHandler(formatter=formatter)
    log = _only_handler("fmt.changes", handler)
    expected: list[str] = []

    def check(message: str) -> None:
        record = log.makeRecord(log.name, logging.INFO, __file__, 1, message, (), None)
        log.handle(record)
        expected.append(formatter.format(logging.makeLogRecord(dict(record.__dict__))) + "\n")

    check("first")
    formatter.datefmt = "%Y"
    check("new datefmt")
    formatter._style = logging.PercentStyle("[%(name)s] %(message)s")
    formatter._fmt = formatter._style._fmt
    check("new style")
    formatter.formatMessage = lambda record: "custom " + record.getMessage()  # type: ignore[method-assign]
    check("instance override")
    assert log_text(run) == "".join(expected)
    formatter.formatMessage = logging.Formatter.formatMessage.__get__(formatter)  # type: ignore[method-assign]
    formatter._style = logging.PercentStyle("%(missing)s %(message)s")
    formatter._fmt = formatter._style._fmt
    errors: list[str] = []
    handler.handleError = lambda record: errors.append(str(sys.exc_info()[1]))  # type: ignore[method-assign]
    log.info("no such field")
    assert errors and "Formatting field not found in record: 'missing'" in errors[0]
    run.complete()


def test_a_full_disk_goes_to_handle_error_with_what_to_do(exp: runlog.Experiment) -> None:
    """A write refused by the disk (ENOSPC: the driver log's descriptor points at /dev/full) does not raise into
    the caller: handleError gets a StoreError that says to free disk space."""
    run = exp.start_logging()
    handler = runlog.RunHandler()
    log = _only_handler("disk.full", handler)
    log.info("before")
    writer = run._writer
    fd = writer._log_fds["logs/driver_log.txt"]
    full = os.open("/dev/full", os.O_WRONLY)
    saved = os.dup(fd)
    os.dup2(full, fd)
    errors = _handle_errors(handler)
    try:
        log.info("lost to a full disk")
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(full)
    assert len(errors) == 1 and isinstance(errors[0], runlog.StoreError) and "Free disk space" in str(errors[0])
    run.complete()


def test_a_formatter_method_patched_on_the_class_is_used(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """logging.Formatter.formatMessage patched on the class (as some libraries do): RunHandler's line is still
    exactly formatter.format(record)."""
    original = logging.Formatter.formatMessage
    monkeypatch.setattr(logging.Formatter, "formatMessage", lambda self, record: "[patched] " + original(self, record))
    run = exp.start_logging()
    formatter = logging.Formatter("%(levelname)s %(message)s")
    log = _only_handler("fmt.patched", runlog.RunHandler(formatter=formatter))
    log.info("hi")
    assert log_text(run) == "[patched] INFO hi\n"
    run.complete()


def test_a_bad_format_call_is_a_logging_error_not_a_store_failure(exp: runlog.Experiment) -> None:
    """log.info("%d", "x") goes to handleError like any stdlib handler's, and the next records are written as
    usual: no "store failing" WARNING, no "could not be written" line in the driver log."""
    run = exp.start_logging()
    handler = runlog.RunHandler()
    log = _only_handler("bad.format", handler)
    errors = _handle_errors(handler)
    log.info("%d apples", "x")
    log.info("next record")
    assert len(errors) == 1 and isinstance(errors[0], TypeError)
    text = log_text(run)
    assert "next record" in text and "could not be written" not in text and "apples" not in text
    assert handler._failing is False
    run.complete()


def test_a_removed_run_folder_is_not_recreated_by_the_next_record(exp: runlog.Experiment) -> None:
    """The run's folder is removed while a process logs to it: the next record does not recreate
    files/logs/driver_log.txt under the missing run; it is reported through handleError."""
    run = exp.start_logging()
    handler = runlog.RunHandler()
    log = _only_handler("removed.folder", handler)
    errors = _handle_errors(handler)
    shutil.rmtree(run.path)
    log.info("into the void")
    assert not run.path.exists()
    assert len(errors) == 1 and isinstance(errors[0], runlog.StoreError) and "removed" in str(errors[0])


def test_an_empty_message_is_formatted_once(exp: runlog.Experiment) -> None:
    """A record whose text is empty is formatted once: its arguments' __str__ runs once, and a record logged
    from inside it is written once."""
    run = exp.start_logging()
    log = _only_handler("empty.text", runlog.RunHandler(formatter=logging.Formatter("%(message)s")))
    calls: list[int] = []

    class Quiet:
        def __str__(self) -> str:
            calls.append(1)
            log.info("inside str")
            return ""

    log.info("%s", Quiet())
    assert calls == [1]
    assert log_text(run).count("inside str") == 1
    run.complete()


def test_two_run_handlers_write_runlogs_own_records_once(exp: runlog.Experiment) -> None:
    """Two RunHandlers on the root logger (a dictConfig and an addHandler, say): each runlog.* diagnostic
    record lands once in the run's system log."""
    run = exp.start_logging()
    root = logging.getLogger()
    first, second = runlog.RunHandler(), runlog.RunHandler()
    root.addHandler(first)
    root.addHandler(second)
    try:
        logging.getLogger("runlog.test").warning("a diagnostic to write once")
    finally:
        root.removeHandler(first)
        root.removeHandler(second)
    assert log_text(run, "logs/runlog_system.txt").count("a diagnostic to write once") == 1
    run.complete()


def test_records_after_the_writer_closed_its_files_open_them_again(exp: runlog.Experiment) -> None:
    """RunHandler keeps the driver log's descriptor between records; when the run's writer closes its files
    (as runlog.mlflow and experiment.submit do with a run that goes on), the next record opens the log again
    instead of writing to the retired descriptor, and a tagged record's values still reach the metrics."""
    run = exp.start_logging()
    log = _only_handler("writer.closed", runlog.RunHandler())
    log.info("before", extra=runlog.metrics(loss=1.0, step=0))
    old_fd = run._writer._log_fds["logs/driver_log.txt"]
    run._writer.close()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, old_fd)  # the retired descriptor now leads nowhere
    os.close(null)
    log.info("after", extra=runlog.metrics(loss=0.5, step=1))
    assert [line.split(":")[-1] for line in log_text(run).splitlines()] == ["before", "after"]
    assert run._writer._log_fds["logs/driver_log.txt"] != old_fd
    assert run.get_metrics()["loss"] == [1.0, 0.5]
    run.complete()


def _only_runlog_writers_of_this_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process with only this test's handlers: other tests' handlers, processors and exporters set aside."""
    monkeypatch.setattr("runlog._capture.driverlog.run_handlers", weakref.WeakSet())
    monkeypatch.setattr("runlog._capture.driverlog._mark_readers", weakref.WeakSet())


def _fields_spy(seen: list[set[str]]) -> type[logging.Handler]:
    """A handler class noting the fields of each record it sees into ``seen``."""

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(set(record.__dict__))

    return Spy


def test_one_runhandler_leaves_the_record_as_it_found_it(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one RunHandler (and no RunProcessor or RunLogExporter), the record the next handler sees has
    exactly the fields the stdlib gave it: no record.message, record.asctime or runlog mark added."""
    _only_runlog_writers_of_this_test(monkeypatch)
    run = exp.start_logging()
    seen: list[set[str]] = []
    Spy = _fields_spy(seen)
    log = _only_handler("untouched", runlog.RunHandler())
    log.addHandler(Spy())
    log.info("hello %s", "there")
    assert seen == [set(logging.makeLogRecord({}).__dict__)]
    assert log_text(run).endswith(" INFO:untouched:hello there\n")
    log.addHandler(runlog.RunHandler())  # a second one: now each record is marked, and written once
    log.info("marked")
    assert "_runlog_written" in seen[-1]
    assert log_text(run).count("marked") == 1
    run.complete()


def test_marking_stops_once_the_second_runhandler_is_collected(exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second RunHandler makes each record marked; once it is gone (closed, removed and collected, as
    dictConfig run again leaves the old one), records are left untouched again."""
    _only_runlog_writers_of_this_test(monkeypatch)
    run = exp.start_logging()
    seen: list[set[str]] = []
    Spy = _fields_spy(seen)
    first = runlog.RunHandler()
    log = _only_handler("collected", first)
    second = runlog.RunHandler()
    log.addHandler(second)
    log.addHandler(Spy())
    log.info("two handlers")
    assert "_runlog_written" in seen[-1]
    log.removeHandler(second)
    second.close()
    del second
    gc.collect()
    log.info("one handler")
    assert "_runlog_written" not in seen[-1]
    assert [line.split(":")[-1] for line in log_text(run).splitlines()] == ["two handlers", "one handler"]
    run.complete()


def test_two_run_handlers_on_one_records_path_write_it_once(exp: runlog.Experiment) -> None:
    """A RunHandler on the root logger and another on a library's logger: each record is written once,
    also after one of them is closed and removed."""
    run = exp.start_logging()
    root, child = logging.getLogger(), logging.getLogger("twice.child")
    child.setLevel(logging.INFO)
    first, second = runlog.RunHandler(), runlog.RunHandler()
    root.addHandler(first)
    child.addHandler(second)
    try:
        child.info("written once")
        child.removeHandler(second)
        second.close()
        child.info("after the close")
        third = runlog.RunHandler()
        child.addHandler(third)
        child.info("a third handler")
        child.removeHandler(third)
    finally:
        root.removeHandler(first)
    text = log_text(run)
    assert (text.count("written once"), text.count("after the close"), text.count("a third handler")) == (1, 1, 1)
    run.complete()


def test_logging_that_feeds_on_itself_ends_quietly(exp: runlog.Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    """An argument whose __str__ logs itself, and a formatter that logs for every record: the chain ends after
    a few rounds (bounded), with no RecursionError and no logging-error report, every record written whole.
    (The first record logged while another is formatted is written at once, as a FileHandler would; one
    logged while *that* one is formatted waits until it is written, which ends the chain.)"""
    run = exp.start_logging()
    log = _only_handler("feeds", runlog.RunHandler())
    log.setLevel(logging.DEBUG)

    class Lazy:
        def __str__(self) -> str:
            log.debug("rendering %s", self)
            return "lazy"

    log.info("value %s", Lazy())

    class Chatty(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            logging.getLogger("feeds.fmt").debug("formatting %s", record.name)
            return super().format(record)

    chatty = _only_handler("feeds.fmt", runlog.RunHandler(formatter=Chatty("%(name)s:%(message)s")))
    chatty.setLevel(logging.DEBUG)
    chatty.info("hello")
    lines = log_text(run).splitlines()
    own = [line.split(":feeds:")[1] for line in lines if ":feeds:" in line]
    assert own.count("value lazy") == 1 and 2 <= len(own) <= 10
    assert set(own) == {"value lazy", "rendering lazy"}
    fmt = [line for line in lines if line.startswith("feeds.fmt:")]
    assert fmt[0] == "feeds.fmt:hello" and 2 <= len(fmt) <= 10
    assert "Logging error" not in capsys.readouterr().err
    run.complete()


def test_a_record_logged_inside_a_store_step_is_written_after_it(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record that needs the store's careful path (a new metric name), logged from inside another record's
    store step (as a signal handler or a __del__ may), waits until that step ends: the store is never
    re-entered, and both lines and all values are kept, in order."""
    run = exp.start_logging()
    handler = runlog.RunHandler()
    log = _only_handler("nested.store", handler)
    _only_handler("runlog.nested", handler)  # runlog's own records: to the system log, through the same handler
    writer = run._writer
    real_scalars = writer.scalars
    depth, deepest = [0], [0]

    def scalars(values: dict[str, object], step: object = None, when: float | None = None) -> None:
        depth[0] += 1
        deepest[0] = max(deepest[0], depth[0])
        try:
            if "outer" in values:
                logging.getLogger("runlog.nested").warning("a diagnostic first")  # (leaves the step busy)
                log.info("inner", extra=runlog.metrics(inner=2.0))
            real_scalars(values, step)  # type: ignore[arg-type]
        finally:
            depth[0] -= 1

    monkeypatch.setattr(writer, "scalars", scalars)
    log.info("outer", extra=runlog.metrics(outer=1.0))
    assert deepest == [1]
    lines = [line.split(":nested.store:")[1] for line in log_text(run).splitlines() if ":nested.store:" in line]
    assert lines == ["outer", "inner"]
    assert run.get_metrics() == {"outer": 1.0, "inner": 2.0}
    assert "a diagnostic first" in log_text(run, "logs/runlog_system.txt")
    run.complete()


def test_a_closed_handler_still_attached_and_an_open_one_write_a_record_once(
    exp: runlog.Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configuration applied twice (dictConfig with disable_existing_loggers=False) can leave the first
    handler closed but still attached: it still writes, so with a second one each record is marked."""
    monkeypatch.setattr("runlog._capture.driverlog.run_handlers", weakref.WeakSet())  # only these two
    monkeypatch.setattr("runlog._capture.driverlog._mark_readers", weakref.WeakSet())
    run = exp.start_logging()
    first, second = runlog.RunHandler(), runlog.RunHandler()
    log = _only_handler("closed.attached", first)
    log.addHandler(second)
    first.close()
    log.info("hello")
    assert log_text(run).count("hello") == 1
    run.complete()


def test_handlers_made_in_many_threads_at_once_all_count(exp: runlog.Experiment) -> None:
    """RunHandlers made (and closed) from several threads at once never fail, and with more than one alive
    each record is marked (so written once)."""
    from runlog._capture import driverlog

    errors: list[BaseException] = []
    kept: list[runlog.RunHandler] = []
    lock = threading.Lock()

    def make() -> None:
        try:
            for _ in range(200):
                handler = runlog.RunHandler()
                with lock:
                    kept.append(handler)
                handler.close()
        except BaseException as exc:  # (any failure is the finding)
            errors.append(exc)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=make) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == [] and len(kept) == 800
    assert driverlog.mark_written
