"""runlog's own diagnostics: visible with DEBUG, silent unconfigured, never recursing, deadlocking or leaking secrets."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _logging_helpers import restored_logging

import runlog
from runlog import _diagnostics
from runlog._diagnostics import redact

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SECRET = "hunter2-s3cr3t"
TOKEN = "tok_9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def _restore_hooks() -> Iterator[None]:
    """Exception hooks and the pending buffer are put back after each test."""
    with restored_logging():
        yield


@pytest.fixture()
def console() -> Iterator[io.StringIO]:
    """A DEBUG console on the root logger (as basicConfig(level=DEBUG) makes) plus a RunHandler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    run_handler = runlog.RunHandler()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    root.addHandler(run_handler)
    yield stream
    root.removeHandler(handler)
    root.removeHandler(run_handler)


def read(run: runlog.Run, name: str) -> str:
    path = run.path / "files" / name
    return path.read_text() if path.exists() else ""


def test_debug_diagnostics_shown_and_kept_in_the_system_log(exp: runlog.Experiment, console: io.StringIO) -> None:
    """With DEBUG configured, runlog's play-by-play shows on the console and goes to runlog_system.txt only."""
    run = exp.start_logging()
    logging.getLogger("user").info("user line")
    run.log("loss", 0.5)
    out = console.getvalue()
    assert f"DEBUG:runlog.run:created run {run.id}" in out
    assert "DEBUG:runlog.stdlib:RunHandler: records of pid" in out
    driver = read(run, "logs/driver_log.txt")
    assert driver.count("\n") == 1 and "INFO:user:user line" in driver and ":runlog" not in driver
    system = read(run, _diagnostics.SYSTEM_LOG)
    assert "DEBUG:runlog.stdlib:" in system and "opened metric events file" in system


def test_diagnostics_do_not_grow_with_records(exp: runlog.Experiment, console: io.StringIO) -> None:
    """Diagnostics never recurse through RunHandler: 1000 user records make a bounded number of runlog records."""
    run = exp.start_logging()
    for i in range(1000):
        logging.getLogger("user").info("line %d", i)
    sdk_lines = [x for x in console.getvalue().splitlines() if x.startswith("DEBUG:runlog")]
    assert len(sdk_lines) < 20
    assert read(run, "logs/driver_log.txt").count("\n") == 1000


def test_unconfigured_program_prints_nothing(tmp_path: Path, store: Path) -> None:
    """Without logging configuration, even a runlog WARNING prints nothing (the NullHandler)."""
    code = textwrap.dedent("""\
        import os, runlog
        os.environ["RUNLOG_RUN_ID"] = "no-such-run"
        run = runlog.Run.get_context()   # warns on 'runlog.run': the environment names no run
        run.log("x", 1)
        run.complete()
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == ""


def test_secrets_never_reach_any_log(exp: runlog.Experiment, console: io.StringIO, store: Path) -> None:
    """A password in a URI and a token logged by SDK code appear neither on the console nor in any store file."""
    run = exp.start_logging()
    uri = f"https://alice:{SECRET}@mlflow.example.com/api"
    logging.getLogger("runlog.upload").debug("uploading batch to %s", uri)
    logging.getLogger("runlog.upload").warning("retrying with headers {'Authorization': 'Bearer %s'}", TOKEN)
    _diagnostics.get_logger("runlog.brand.new").info("env MLFLOW_TRACKING_TOKEN=%s", TOKEN)
    out = console.getvalue()
    assert "uploading batch to https://***@mlflow.example.com/api" in out
    for text in [out, *(p.read_text(errors="replace") for p in store.rglob("*") if p.is_file())]:
        assert SECRET not in text and TOKEN not in text
    assert "https://***@mlflow.example.com" in read(run, _diagnostics.SYSTEM_LOG)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://bob:pw@db:5432/x", "postgresql://***@db:5432/x"),
        ("https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r", "https://***@github.com/o/r"),
        ("https://host/path?sig=abc123&x=1", "https://host/path?sig=***&x=1"),
        ('{"api_key": "abc", "name": "n"}', '{"api_key": "***", "name": "n"}'),
        ("password=hunter2 user=bob", "password=*** user=bob"),
        ("Authorization: Bearer eyJabc.def.ghi", "Authorization: Bearer ***"),
        ("key AKIAABCDEFGHIJKLMNOP used", "key *** used"),
        ("max_tokens=5 at http://localhost:8080/x", "max_tokens=5 at http://localhost:8080/x"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    """redact() removes URI credentials, secret-named values, bearer tokens and known token shapes, nothing else."""
    assert redact(text) == expected


def test_unknown_sdk_logger_is_redacted_in_the_system_log(exp: runlog.Experiment) -> None:
    """A runlog.* logger created without get_logger is still redacted where RunHandler writes it."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    handler = runlog.RunHandler()
    root.addHandler(handler)
    run = exp.start_logging()
    logging.getLogger("runlog.unfiltered.child").info("connect s3://key:%s@bucket", SECRET)
    root.removeHandler(handler)
    system = read(run, _diagnostics.SYSTEM_LOG)
    assert "s3://***@bucket" in system and SECRET not in system


def test_a_handler_that_logs_while_handling(exp: runlog.Experiment) -> None:
    """A handler that logs from its emit, and an argument whose __str__ logs, neither deadlock nor loop."""

    class Chatty(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == "user":
                logging.getLogger("chatty").info("saw %s", record.getMessage())

    class LogsWhenFormatted:
        def __str__(self) -> str:
            logging.getLogger("inner").info("formatted!")
            return "value"

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(Chatty())
    root.addHandler(runlog.RunHandler(fmt="%(name)s %(message)s"))
    run = exp.start_logging()
    done = threading.Event()

    def work() -> None:
        logging.getLogger("user").info("a %s", LogsWhenFormatted())
        done.set()

    threading.Thread(target=work, daemon=True).start()
    assert done.wait(20), "logging deadlocked"
    lines = read(run, "logs/driver_log.txt").splitlines()
    assert lines.count("user a value") == 1 and lines.count("chatty saw a value") == 1
    assert set(lines) == {"chatty saw a value", "inner formatted!", "user a value"} and len(lines) < 10


def test_del_that_logs_inside_emit(exp: runlog.Experiment) -> None:
    """An object whose __del__ logs, collected while RunHandler is formatting the record, is written once, at
    once, before that record: the order a FileHandler writes them in."""

    class Noisy:
        def __del__(self) -> None:
            logging.getLogger("gc").warning("collected")

    holder: dict[str, object] = {"obj": Noisy()}

    class DropsOnStr:
        def __str__(self) -> str:
            holder.clear()  # the last reference: __del__ runs here, inside emit
            return "arg"

    handler = runlog.RunHandler(fmt="%(name)s %(message)s")
    for name in ("del", "gc"):
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).propagate = False
        logging.getLogger(name).addHandler(handler)
    log = logging.getLogger("del")
    run = exp.start_logging()
    log.info("x=%s", DropsOnStr())
    assert read(run, "logs/driver_log.txt").splitlines() == ["gc collected", "del x=arg"]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
@pytest.mark.timeout(120)
def test_signal_handler_that_logs(exp: runlog.Experiment) -> None:
    """A signal handler that logs, firing while the main thread logs in a loop, never deadlocks; lines stay whole."""
    log = logging.getLogger("sig")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(runlog.RunHandler(fmt="%(message)s"))
    fired = []

    def on_alarm(signum: int, frame: object) -> None:
        fired.append(1)
        log.info("from the signal handler")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    run = exp.start_logging()
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
    try:
        n = 0
        while len(fired) < 20 and n < 2_000_000:
            log.info("main %d", n)
            n += 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    lines = read(run, "logs/driver_log.txt").splitlines()
    assert lines.count("from the signal handler") == len(fired) >= 1
    assert [x for x in lines if x != "from the signal handler"] == [f"main {i}" for i in range(n)]


def test_first_run_log_with_debug_handler_does_not_deadlock(exp: runlog.Experiment) -> None:
    """run.log opening its events file logs at DEBUG under the writer: with a DEBUG RunHandler that must not hang."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(runlog.RunHandler())
    run = exp.start_logging()
    done = threading.Event()

    def work() -> None:
        run.log("first", 1.0)
        run.upload_file("outputs/a.txt", __file__)
        done.set()

    threading.Thread(target=work, daemon=True).start()
    assert done.wait(20), "deadlocked"
    assert "opened metric events file" in read(run, _diagnostics.SYSTEM_LOG)


def test_seed_scenario_basicconfig_debug_script(store: Path) -> None:
    """basicConfig(level=DEBUG) at the top of a script shows runlog's diagnostics while the script logs metrics."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "logging_basicconfig.py")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG:runlog.run:created run logging-basicconfig_" in proc.stderr
    assert "INFO:train:epoch 5 done" in proc.stderr
    (run_dir,) = store.glob("experiments/logging-basicconfig/runs/*")
    run = runlog.Workspace(store).get_run(run_dir.name)
    assert len(run.get_metrics()["loss"]) == 5
    assert "runlog" not in read(run, "logs/driver_log.txt").replace("INFO:runlog:", "")
    assert "DEBUG:runlog.run:" in read(run, _diagnostics.SYSTEM_LOG)


def test_seed_scenario_without_a_runhandler(tmp_path: Path) -> None:
    """Only basicConfig(level=DEBUG): runlog's play-by-play (run, files, flush) is on stderr while metrics are logged."""
    code = textwrap.dedent("""\
        import logging
        logging.basicConfig(level=logging.DEBUG)
        import runlog
        run = runlog.Experiment(runlog.Workspace(), "seed").start_logging()
        for step in range(3):
            run.log("loss", 1.0 / (step + 1), step=step)
        run.flush()
        run.complete()
        print(run.get_metrics())
        """)
    env = {**os.environ, "RUNLOG_STORE": str(tmp_path / "s")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "{'loss': [1.0, 0.5, 0.3333333333333333]}" in proc.stdout
    for expected in ("DEBUG:runlog.run:created run seed_", "DEBUG:runlog.store:opened metric events file",
                     "DEBUG:runlog.store:flushed (fsync)", "DEBUG:runlog.run:run seed_"):  # fmt: skip
        assert expected in proc.stderr, expected


def test_records_never_reaching_a_run_are_reported_at_exit(tmp_path: Path) -> None:
    """Records still buffered at exit (no run ever started) produce one WARNING naming the fix."""
    code = textwrap.dedent("""\
        import logging, runlog
        logging.basicConfig(level=logging.INFO, handlers=[logging.StreamHandler(), runlog.RunHandler()])
        logging.getLogger("x").info("orphan")
        """)
    env = {**os.environ, "RUNLOG_STORE": str(tmp_path / "s")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 0
    assert "1 log record(s) were logged while no runlog run was active" in proc.stderr
