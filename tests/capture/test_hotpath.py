"""runlog._capture.hotpath (and the C module ``runlog._capture._hot``): RunHandler's usual record written in C,
byte-identical to the Python ``handle`` and to ``Formatter.format``; every other record handed to
``RunHandler._handle_py`` before anything is written; the package without the C module."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _logging_helpers import PythonRunHandler, require_c_handle
from _repo import REPO
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_fastformat import _copy, cases

import runlog
from runlog._capture import hotpath
from runlog._capture.formatting import RunFormatter, effective_formatter

pytestmark = pytest.mark.usefixtures("local_time_is_not_utc", "restored")


@pytest.fixture()
def native() -> None:
    """The C ``handle`` is there (see ``require_c_handle``)."""
    require_c_handle()


def _log_path(run: runlog.Run) -> Path:
    return run.path / "files" / "logs" / "driver_log.txt"


class _Spied:
    """A RunHandler whose ``_handle_py`` calls are counted (the C ``handle`` looks it up per record)."""

    def __init__(self, handler: runlog.RunHandler) -> None:
        self.calls: list[tuple[Any, ...]] = []
        python = handler._handle_py

        def spy(record: logging.LogRecord, *args: Any) -> Any:
            self.calls.append((record.getMessage(), *args))
            return python(record, *args)

        handler._handle_py = spy  # type: ignore[method-assign]


def test_runhandler_uses_the_c_handle_where_it_was_built(native: None) -> None:
    assert hotpath.NATIVE and runlog.RunHandler.__mro__[1] is hotpath.HandlerBase
    assert runlog.RunHandler.handle is hotpath.HandlerBase.handle
    assert set(hotpath.FIELDS) <= set(dir(runlog.RunHandler()))


def test_without_the_c_module_handle_is_the_python_one_and_writes() -> None:
    """RUNLOG_PURE_PYTHON=1 leaves the C module out: the base is a Python class with the same slots,
    ``handle`` is ``_handle_py``, and records reach the driver log."""
    code = (
        "import logging, runlog, pathlib, tempfile\n"
        "from runlog._capture import hotpath\n"
        "assert not hotpath.NATIVE and runlog.RunHandler.handle is runlog.RunHandler._handle_py\n"
        "assert hotpath.HandlerBase.__slots__ == hotpath.FIELDS\n"
        "run = runlog.Experiment(runlog.Workspace(tempfile.mkdtemp()), 'e').start_logging()\n"
        "log = logging.getLogger('pure'); log.addHandler(runlog.RunHandler()); log.setLevel('INFO')\n"
        "log.info('hello %s', 'there', extra=runlog.metrics(loss=0.5, step=1))\n"
        "print((run.path / 'files/logs/driver_log.txt').read_text().strip().split(' ', 1)[1])\n"
        "print(run.get_metrics())\n"
    )
    env = {**os.environ, "RUNLOG_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.splitlines() == ["INFO:pure:hello there", "{'loss': 0.5}"]


def test_the_stdlib_suites_pass_with_the_python_handle() -> None:
    """tests/producers/test_stdlib*.py again in a process without the C module: the Python ``handle`` (what
    RunHandler is where no C compiler was) keeps every behaviour they hold."""
    env = {**os.environ, "RUNLOG_PURE_PYTHON": "1", "RUNLOG_REQUIRE_C": ""}
    suites = ["tests/producers/test_stdlib.py", "tests/producers/test_stdlib_tagged.py"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *suites],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout.splitlines()[-1]


def test_only_the_usual_record_is_written_in_c(native: None, exp: runlog.Experiment) -> None:
    """The usual record never reaches ``_handle_py``; a record with an exception, a filtered handler, a record
    of another class, runlog's own logger, a changed formatter, a call from ``emit``: each is handed to it
    (and written by it)."""
    run = exp.start_logging()
    handler = runlog.RunHandler()
    spied = _Spied(handler)
    log = logging.getLogger("hot.which")
    log.handlers[:] = [handler]
    log.propagate, log.level = False, logging.INFO
    log.info("warm-up")  # the first record opens the run's files (the slow way, in C's hands still)
    spied.calls.clear()
    log.info("usual %d", 1)
    log.info("tagged", extra=runlog.metrics(loss=0.1, step=1))
    log.info("tagged again", extra=runlog.metrics(loss=0.2, step=2))
    assert spied.calls == []
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("with exception")
    log.info("with stack", stack_info=True)

    class Other(logging.LogRecord):
        pass

    other = Other("hot.which", logging.INFO, __file__, 1, "other class", (), None)
    handler.handle(other)
    handler.emit(logging.makeLogRecord({"name": "hot.which", "msg": "from emit"}))
    handler.addFilter(lambda record: True)
    log.info("filtered")
    handler.filters.clear()
    handler.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
    log.info("new formatter")  # (planned again in Python, then usual)
    log.info("usual again")
    assert [c[0] for c in spied.calls] == [
        "with exception",
        "with stack",
        "other class",
        "from emit",
        "filtered",
        "new formatter",
    ]
    assert spied.calls[3][1:] == (True,)  # emit: the handle without the filters
    text = _log_path(run).read_text()
    for message in ("usual 1", "tagged again", "Traceback", "other class", "from emit", "filtered", "INFO|usual again"):
        assert message in text
    assert run.get_metrics() == {"loss": [0.1, 0.2]}
    run.complete()


class _Nested:
    """An argument whose ``__str__`` logs (``depth`` times more while that one is formatted)."""

    def __init__(self, log: logging.Logger, depth: int) -> None:
        self.log, self.depth = log, depth

    def __str__(self) -> str:
        if self.depth:
            self.log.info("inner %s", _Nested(self.log, self.depth - 1))
        return f"n{self.depth}"


@pytest.mark.parametrize("depth", [1, 30])
def test_records_logged_while_one_is_formatted_are_written_as_by_the_python_handle(
    exp: runlog.Experiment, depth: int
) -> None:
    """A record logged from an argument's ``__str__`` (once, or feeding on itself): the C ``handle`` writes the
    same lines in the same order as the Python one (the first nested line before the outer one, as a
    FileHandler; logging that feeds on itself ends)."""
    texts = []
    for cls in (runlog.RunHandler, PythonRunHandler):
        run = exp.start_logging()
        log = logging.getLogger(f"hot.nested.{cls.__name__}")
        log.handlers[:] = [cls(fmt="%(levelname)s:%(message)s")]
        log.propagate, log.level = False, logging.INFO
        log.info("outer %s", _Nested(log, depth))
        texts.append(_log_path(run).read_text())
        run.complete()
    assert texts[0] == texts[1]
    assert texts[0].splitlines()[0].startswith("INFO:inner") and f"INFO:outer n{depth}" in texts[0]


def test_a_keyboardinterrupt_while_formatting_reaches_the_caller(native: None, exp: runlog.Experiment) -> None:
    """Only an Exception is the handler's to deal with: a KeyboardInterrupt raised by an argument's ``__str__``
    goes on up (as through a FileHandler), and the next record is written."""
    run = exp.start_logging()
    log = logging.getLogger("hot.interrupt")
    log.handlers[:] = [runlog.RunHandler()]
    log.propagate, log.level = False, logging.INFO
    log.info("warm-up")

    class Interrupting:
        def __str__(self) -> str:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        log.info("x %s", Interrupting())
    log.info("after")
    assert _log_path(run).read_text().splitlines()[-1].endswith("INFO:hot.interrupt:after")
    run.complete()


@pytest.fixture()
def two_handlers(exp: runlog.Experiment) -> Iterator[tuple[runlog.RunHandler, runlog.RunHandler, Path, list[int]]]:
    run = exp.start_logging()
    errors: list[int] = []
    handlers = (runlog.RunHandler(), PythonRunHandler())
    for h in handlers:
        h.handleError = lambda record, h=h: errors.append(id(h))  # type: ignore[misc]
    yield handlers[0], handlers[1], _log_path(run), errors
    run.complete()


def _written(handler: runlog.RunHandler, record: logging.LogRecord, path: Path) -> bytes:
    before = path.stat().st_size if path.exists() else 0
    handler.handle(record)
    with path.open("rb") as fh:
        fh.seek(before)
        return fh.read()


@settings(
    max_examples=250,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(cases(), st.booleans(), st.booleans())
@example((logging.Formatter("%(message)s"), logging.makeLogRecord({"msg": "\udcff lone", "name": "x"})), False, True)
@example((RunFormatter(), logging.makeLogRecord({"msg": "hi %s", "args": ("a",), "name": "x"})), False, True)
def test_a_line_through_the_c_handle_is_formatter_format_and_the_python_handles(
    native: None,
    two_handlers: tuple[runlog.RunHandler, runlog.RunHandler, Path, list[int]],
    case: tuple[logging.Formatter, logging.LogRecord],
    subclass: bool,
    recent: bool,
) -> None:
    """For generated %-formats, messages, arguments, record fields, datefmt or none, stdlib/runlog/gmtime time:
    the bytes the C ``handle`` writes are the Python ``handle``'s, which are the effective formatter's
    ``format`` plus a newline (UTF-8, lone surrogates backslash-escaped); a record the formatter cannot format
    is reported by both and written by neither."""
    c_handler, py_handler, path, errors = two_handlers
    formatter, record = case
    if recent:  # (a record of now: no once-a-second check due, so the C handle writes it itself)
        record.created = time.time()
    errors.clear()
    lines = []
    for handler in (c_handler, py_handler):
        handler.setFormatter(formatter)
        handler._replan(formatter)  # (what the next record would do in Python: this one is then the usual one)
        lines.append(_written(handler, _copy(record, subclass), path))
    assert lines[0] == lines[1]
    assert errors in ([], [id(c_handler), id(py_handler)])
    if errors or record.name == "runlog" or record.name.startswith("runlog."):
        assert lines[0] == b""
        return
    want = effective_formatter(formatter).format(_copy(record, subclass)) + "\n"
    assert lines[0] == want.encode("utf-8", "backslashreplace")


@pytest.mark.parametrize("handler_class", [runlog.RunHandler, PythonRunHandler], ids=["C handle", "Python handle"])
def test_a_record_time_set_while_the_record_is_formatted_is_the_time_its_values_get(
    exp: runlog.Experiment, handler_class: type[runlog.RunHandler]
) -> None:
    """An argument's ``__str__`` that sets the record's ``created`` (the old float then freed): the values are
    stored with the new time, by the C handle as by the Python one (the C handle reads the time again after
    the format, and holds it)."""
    from runlog._store.reader import RunReader

    run = exp.start_logging()
    handler = handler_class()
    log = logging.getLogger("hot.retime")
    log.handlers[:] = [handler]
    log.propagate, log.level = False, logging.INFO
    for _ in range(2):  # (the run's files opened, the group's packer compiled: the next values are packed in C)
        log.info("warm-up", extra=runlog.metrics(loss=1.0, step=0))

    class Retiming:
        record: logging.LogRecord

        def __str__(self) -> str:
            self.record.created = self.record.created - 0.5  # (a new float object: the old one is freed)
            return "retimed"

    arg = Retiming()
    record = log.makeRecord(
        log.name, logging.INFO, __file__, 1, "m %s", (arg,), None, extra=runlog.metrics(loss=0.5, step=1)
    )
    arg.record = record
    record.created = time.time() + 0.25  # (a float object of its own)
    log.handle(record)
    events = [e for e in RunReader(run.path).metric_events() if e[3] == 1]
    assert [(e[1], e[2]) for e in events] == [("loss", 0.5)] and events[0][4] == pytest.approx(record.created)
    assert _log_path(run).read_text().splitlines()[-1].endswith("m retimed")
    run.complete()
