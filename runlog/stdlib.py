"""stdlib ``logging`` integration: :class:`RunHandler` and the :func:`metrics` helper.

One line of set-up sends a program's logging to the active run::

    logging.basicConfig(level=logging.INFO, handlers=[logging.StreamHandler(), runlog.RunHandler()])

- Each record becomes one line (one ``os.write``) of the active run's driver log
  (``logs/driver_log.txt``; other processes: see :func:`runlog._capture.driverlog.driver_log_name`).
  The handler has no formatter until given one (``basicConfig(format=...)``, dictConfig,
  fileConfig, ``setFormatter``), so the user's format reaches the driver log; without one
  (or with basicConfig's own default) lines are ``basicConfig``'s format with a UTC timestamp:
  ``2026-11-27T14:28:36.123Z INFO:train:epoch done``. ``asctime`` without ``datefmt`` in a plain
  ``logging.Formatter`` is that UTC time too (see :func:`runlog._capture.formatting.effective_formatter`), and
  ``RunHandler(json=True)`` writes JSON lines.
- Tagged metric events: ``log.info("epoch done", extra=runlog.metrics(loss=0.1, step=3))``
  (or ``extra={"metrics": {...}, "step": 3}``) also stores the values as ``run.log`` would.
- The active run is looked up for every record; records logged while no run is active are
  kept in a bounded buffer and written to the next run's driver log.
- Records of runlog's own ``runlog.*`` loggers go (redacted) to the run's system log
  ``logs/runlog_system.txt``, never to the driver log.
- Nothing here raises into the caller: a failed write goes through ``Handler.handleError``
  and one WARNING, and writing resumes when it can.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._capture import driverlog as _driverlog
from ._capture import excepthook as _excepthook
from ._capture.driverlog import (
    ENV_OUTPUT_CAPTURED,
    NO_SINK,
    Sink,
    _pending,
    add_pending,
    defer,
    drain_deferred,
    flush_pending,
    format_utc,
)
from ._capture.driverlog import thread_state as _tls
from ._capture.fastformat import CompiledFormat, compile_formatter
from ._capture.formatting import (
    DEFAULT_FORMAT,
    SYSTEM_FORMAT,
    TRACE_FIELDS,
    TRACE_SUFFIX,
    NoStyle,
    RunFormatter,
    class_time,
    effective_formatter,
    trace_mode,
)
from ._capture.hotpath import NATIVE as _NATIVE_HANDLE
from ._capture.hotpath import HandlerBase as _HandlerBase
from ._capture.hotpath import setup as _setup_native_handle
from ._capture.output import echoed_to_console
from ._capture.trace import current_trace_ids, with_trace_suffix
from ._diagnostics import SYSTEM_LOG, get_logger, redact
from ._diagnostics import install as _install_redaction
from ._model.context import _current, active_run
from ._store.writer import NO_STEP, encode_scalar, encode_step

if TYPE_CHECKING:
    from ._model.run import Run
    from ._store.writer import RunWriter

__all__ = ["DEFAULT_FORMAT", "RunFormatter", "RunHandler", "metrics"]

_CHECK_INTERVAL = 1.0  # seconds between checks that the driver log file still exists

_log = get_logger("runlog.stdlib")


def metrics(values: Mapping[str, Any] | None = None, /, *, step: int | None = None, **named: Any) -> dict[str, Any]:
    """The ``extra`` dict of a tagged metric event: ``{"metrics": {...}, "step": step}``.

    ``log.info("epoch done", extra=runlog.metrics(loss=0.1, acc=0.9, step=3))``;
    names that are not identifiers go in a mapping: ``runlog.metrics({"val/loss": 0.2}, step=3)``.
    Values are checked now (as ``run.log`` would check them), so a bad one fails at the call.
    """
    merged: dict[str, Any] = dict(values) if values is not None else {}
    merged.update(named)
    if not merged:
        raise ValueError("runlog.metrics() needs at least one metric, e.g. runlog.metrics(loss=0.1, step=3)")
    for name, value in merged.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"runlog.metrics(): a metric name must be a non-empty str; got {name!r}")
        encode_scalar(value, name)
    extra: dict[str, Any] = {"metrics": merged}
    if step is not None:
        encode_step(step)
        extra["step"] = step
    return extra


def _tagged_values(d: dict[str, Any], msg: Any) -> tuple[dict[str, Any] | None, Any]:
    """The tagged values and step of a record (``extra`` fields, or a structlog event dict as msg)."""
    tagged = d.get("metrics")
    if tagged is not None:
        step = d.get("step")
    elif msg.__class__ is dict:
        tagged, step = msg.get("metrics"), msg.get("step")
    else:
        return None, None
    if tagged is not None and type(tagged) is not dict:
        tagged = dict(tagged) if isinstance(tagged, Mapping) else None
    return tagged, step


_pid = os.getpid()
_now = time.time
_os_write = os.write
_modules = sys.modules
_formatting = False  # a RunHandler is running a compiled format unguarded (see RunHandler.handle)
_current_run = _current.get
_setup_native_handle(
    logging.LogRecord, _current, _pending, _driverlog, _tls, NO_STEP, current_trace_ids, with_trace_suffix, globals()
)


class _Resume:
    """A record deferred by :meth:`RunHandler._write_slow`: ``drain_deferred`` calls ``emit(args)``."""

    __slots__ = ("handler",)

    def __init__(self, handler: RunHandler) -> None:
        self.handler = handler

    def emit(self, args: tuple[Any, ...]) -> None:
        self.handler._write_slow(*args)


class RunHandler(_HandlerBase, logging.Handler):
    """Sends each record to the driver log of the active run (see the module documentation).

    ``RunHandler(level=logging.NOTSET, *, json=False, fmt=None, datefmt=None, formatter=None)``:

    - ``json=True``: JSON lines through python-json-logger (``time``, ``level``, ``logger``,
      ``message`` and every ``extra`` field, ``metrics``/``step`` included);
    - ``fmt``/``datefmt``: a ``RunFormatter`` with this format; ``formatter``: any
      ``logging.Formatter``. Given none of these, the handler has no formatter, so
      ``basicConfig(format=...)``, dictConfig's ``"formatter"``, fileConfig's ``formatter=`` and
      ``setFormatter`` give it one; until then it writes :data:`DEFAULT_FORMAT` in UTC.

    Usable from ``dictConfig`` (``{"class": "runlog.RunHandler"}`` or ``{"()": "runlog.RunHandler"}``)
    and ``fileConfig`` (``class=runlog.RunHandler``).
    """

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        *,
        json: bool = False,
        fmt: str | None = None,
        datefmt: str | None = None,
        formatter: logging.Formatter | None = None,
    ) -> None:
        super().__init__(level)
        if formatter is None and (json or fmt is not None or datefmt is not None):
            if json:
                from ._capture.jsonformat import RunJsonFormatter  # deferred: python-json-logger is optional

                formatter = RunJsonFormatter(fmt, datefmt)
            else:
                formatter = RunFormatter(fmt, datefmt)
        # No formatter unless one was asked for: basicConfig(format=...) sets its formatter only on
        # handlers that have none, and dictConfig/fileConfig/setFormatter may give one later.
        self.setFormatter(formatter)
        self.json = json
        self._captured = os.environ.get(ENV_OUTPUT_CAPTURED) == "1"
        self._sink: Sink = NO_SINK
        self._closed = False
        _driverlog.add_run_handler(self)
        self._emit_overridden = type(self).emit is not RunHandler.emit
        self._replan(formatter)
        self._failing = False
        self._lost = 0
        self._next_check = 0.0
        self._warned_metrics: set[str] = set()
        if json:
            _excepthook.json_lines = True
        _install_redaction()
        _excepthook.install()

    def __repr__(self) -> str:
        return f"<RunHandler ({logging.getLevelName(self.level)}{', json' if self.json else ''})>"

    def _replan(self, formatter: logging.Formatter | None) -> None:
        """Decide how records are formatted with ``formatter`` (the handler's, at this moment).

        Kept: the formatter's attribute dict, its size, ``datefmt``, ``_style`` and the style's
        format, so that ``emit`` sees a later change (cheaply, per record) and plans again.
        """
        effective = effective_formatter(formatter)
        attrs: dict[str, Any] = getattr(formatter, "__dict__", None) or {}
        style: Any = attrs.get("_style")
        # Watched for changes: a formatter with a style (any logging.Formatter); another object is
        # only noticed when it is replaced.
        self._watch = formatter is not None and hasattr(style, "_fmt")
        self._source_attrs = attrs
        self._source_len = len(attrs)
        self._source_datefmt = attrs.get("datefmt")
        self._source_style: Any = style if self._watch else NoStyle
        self._source_fmt = self._source_style._fmt
        # A format with asctime: the time settings its class has now. Set on logging.Formatter after this
        # (``logging.Formatter.converter = time.gmtime``), they change what the format writes: looked at
        # with the once-a-second check (``_next_check``; per record it would cost about 0.2 us).
        time_class: Any = None
        try:
            time_class = type(formatter) if self._watch and formatter.usesTime() else None  # type: ignore[union-attr]
        except Exception:
            pass
        self._time_class = time_class
        self._time_settings = class_time(time_class) if time_class is not None else ()
        self._effective = effective
        trace = trace_mode(effective)
        self._trace_fields = trace == TRACE_FIELDS
        self._trace_suffix = trace == TRACE_SUFFIX
        self._compiled: CompiledFormat | None = compile_formatter(
            effective, (RunFormatter.format,), newline=True, side_effects=False
        )
        self._source = formatter  # last: another thread seeing it sees the rest of the plan

    def _handle_py(
        self, record: logging.LogRecord, _emit: bool = False, _nested: bool = False, _compiled_failed: bool = False
    ) -> Any:
        """Filter and write ``record`` (``emit`` is this without the filters): ``handle`` in Python.

        ``handle`` is this where the C module ``runlog._capture._hot`` was not built; where it was,
        ``handle`` writes the usual record in C (the same checks in the same order) and calls this for
        any other: ``_nested``, a record logged while the C ``handle`` formats another (as
        ``_formatting`` here); ``_compiled_failed``, the compiled format raised there.

        No lock: each record is one ``os.write`` of a whole line on an ``O_APPEND`` descriptor,
        so threads never interleave. The writing is done here rather than in a call to ``emit``:
        one Python call less per record. The usual record (the run's files open, nothing buffered,
        no check due, metrics under names stored before) is formatted and written here without
        marking the thread busy: a record logged meanwhile (from an argument's ``__str__``, a signal
        handler, a ``__del__``) is written at once, before this one, as the stdlib's handlers do.
        Anything else goes through :meth:`_write_slow`, which marks the thread busy: a record logged
        from inside it is written right after it and never re-enters the store.
        """
        global _formatting
        if not _emit and (self.filters or self._emit_overridden):
            rv = self.filter(record) if self.filters else True
            if not rv:
                return rv
            if isinstance(rv, logging.LogRecord):
                record = rv
            if self._emit_overridden:  # a subclass's emit runs as with any handler (it calls ours)
                self.emit(record)
                return rv
        name = record.name
        if "runlog" in name and (name == "runlog" or name.startswith("runlog.")):  # (`in`: no method call)
            self._emit_diagnostic(record)
            return True
        d = record.__dict__
        msg = record.msg
        mark = _driverlog.mark_written  # another runlog writer may see this record (see driverlog.mark_written)
        if mark:
            if "_runlog_written" in d:  # another RunHandler or runlog.structlog wrote it already
                return True
            if _driverlog.structlog_used and msg is _tls.written_msg and msg is not None:  # written by runlog.structlog
                _tls.written_msg = None
                if _tls.written_created is None or _tls.written_created == record.created:
                    d["_runlog_written"] = True
                    return True
        try:
            # Everything here is on the hot path: one format, one os.write (two when tagged).
            run = _current_run()  # active_run()'s first step inlined: the run of this context
            if run is None or run._finished:
                run = active_run()
            formatter = self.formatter
            if formatter is not self._source:
                self._replan(formatter)
            elif self._watch:  # changed since (a new datefmt, style, format, or a method set)?
                attrs = self._source_attrs
                source_style = self._source_style
                if (
                    len(attrs) != self._source_len
                    or attrs.get("datefmt") is not self._source_datefmt
                    or source_style._fmt is not self._source_fmt
                    or attrs.get("_style") is not source_style
                    or (  # the time settings of its class, looked at once a second (see _replan)
                        record.created >= self._next_check
                        and self._time_class is not None
                        and class_time(self._time_class) != self._time_settings
                    )
                ):
                    self._replan(formatter)
            if self._trace_fields:
                ids = current_trace_ids()
                d["trace_id"], d["span_id"] = ids if ids is not None else ("", "")
            text: str | None = None  # the line(s) with their newline
            # The compiled format, for a record it fits (no exception or stack, not a structlog dict).
            compiled = (
                self._compiled
                if record.exc_info is None
                and record.exc_text is None
                and record.stack_info is None
                and msg.__class__ is not dict
                and not _compiled_failed
                else None
            )
            if compiled is not None and not _formatting and not _nested:  # (a record logged while one is formatted: guarded)
                # Unguarded: no per-thread flag. A record logged meanwhile (an argument's __str__, a __del__)
                # sees _formatting and takes _format_guarded, which marks its thread busy: a record logged
                # while *that* one is formatted waits, so logging that feeds on itself ends. (One flag for
                # all threads: a thread that sees another's takes the guarded path, which is only slower.)
                _formatting = True
                try:  # the same text as Formatter.format, compiled for this format (runlog._capture.fastformat)
                    text = compiled(record, d)
                except Exception:  # (bad arguments, a field missing): Formatter.format raises its own error
                    compiled = None
                finally:
                    _formatting = False
            guarded = False
            if text is None:
                guarded = True
                text = self._format_guarded(record, d, compiled)
                if text is None:
                    if _tls.deferred is not None:  # (returns at once while this thread is busy)
                        drain_deferred(_tls)
                    return True
            if mark:  # marked once formatted: a record that could not be formatted here is left to the
                d["_runlog_written"] = True  # next RunHandler (another formatter may take it)
            if self._trace_suffix and "opentelemetry.trace" in _modules:
                ids = current_trace_ids()
                if ids is not None:
                    text = with_trace_suffix(text, ids)
            tagged = step = None
            if "metrics" in d:  # (_tagged_values for a plain dict inlined: one call less per tagged record)
                tagged = d["metrics"]
                if tagged.__class__ is dict:
                    step = d.get("step")
                else:
                    tagged, step = _tagged_values(d, msg)
            elif msg.__class__ is dict:
                tagged, step = _tagged_values(d, msg)
            echoed = self._captured and echoed_to_console(record)  # stdout/stderr already go to the log
            sink = self._sink
            if (
                run is None
                or _pending
                or sink.run is not run  # (a forked child starts with NO_SINK: see _after_fork_in_child)
                or record.created >= self._next_check  # once a second: the log or the run folder removed?
                or self._failing
                or sink.writer._log_fds is not sink.fds  # opened, or the writer closed (or forked) since
            ):
                self._write_slow(record, run, text, tagged, step, echoed)
                return True
            writer = sink.writer
            if not echoed:
                # RunWriter.write_log inlined (one call less per record): one os.write of the whole line.
                try:
                    data = text.encode()
                except UnicodeEncodeError:  # lone surrogates
                    data = text.encode("utf-8", "backslashreplace")
                try:
                    n = _os_write(sink.fd, data)
                except OSError:
                    n = 0
                if n != len(data):
                    writer._write(sink.fd, data[n:])  # the rest of a short write; raises StoreError saying what to do
            if tagged:
                self._points(record, run, writer, tagged, step)
        except RecursionError:
            raise
        except Exception as exc:
            self._failed(record, exc)
        if guarded and _tls.deferred is not None:  # logged while this one was formatted: written now
            drain_deferred(_tls)
        return True

    if not _NATIVE_HANDLE:
        handle = _handle_py

    def _points(self, record: logging.LogRecord, run: Run, writer: RunWriter, tagged: dict[str, Any], step: Any) -> None:
        """Store a written record's tagged values: packed as ``RunWriter._pack`` packs them (timed by the
        record) and written with one ``os.write``; new names, other values or steps, the points file not
        open yet: :meth:`_write_slow`. (The C ``handle`` writes the usual case itself and calls this for
        any other.)"""
        try:
            points = None
            fd = writer._points_fd
            if fd >= 0 and (step is None or (step.__class__ is int and step != NO_STEP)):
                st = NO_STEP if step is None else step
                packer = writer._packer
                try:
                    points = None if packer is None else packer(tagged, st, record.created)
                except KeyError:  # (another group of as many names)
                    pass
                except struct.error:  # (an int beyond 64 bits)
                    fd = -1
                if points is None and fd >= 0:
                    try:
                        points = writer._pack_other(tagged, st, record.created)
                    except (KeyError, struct.error):
                        pass
            if points is None:
                self._write_slow(record, run, None, tagged, step, True)
            elif points:
                try:
                    n = _os_write(fd, points)
                except OSError:
                    n = 0
                if n != len(points):
                    writer._append(fd, points[n:], started=n > 0)  # a short write: the careful way
        except RecursionError:
            raise
        except Exception as exc:
            self._failed(record, exc)

    def _points_rest(self, record: logging.LogRecord, writer: RunWriter, fd: int, points: bytes, n: int) -> None:
        """The C ``handle``'s short or failed write of a record's points: the rest the careful way."""
        try:
            writer._append(fd, points[n:], started=n > 0)
        except RecursionError:
            raise
        except Exception as exc:
            self._failed(record, exc)

    def _write_rest(self, record: logging.LogRecord, writer: RunWriter, fd: int, data: bytes, n: int) -> bool:
        """The C ``handle``'s short or failed write of a line: the rest the careful way (as ``_handle_py``);
        False when it failed (the record's values are then not stored, as in ``_handle_py``)."""
        try:
            writer._write(fd, data[n:])  # raises StoreError saying what to do
        except RecursionError:
            raise
        except Exception as exc:
            self._failed(record, exc)
            return False
        return True

    def _format_guarded(self, record: logging.LogRecord, d: dict[str, Any], compiled: CompiledFormat | None) -> str | None:
        """The record's text (``compiled``, else ``formatter.format``), with this thread marked busy.

        A record logged while this runs (by an argument's ``__str__``, a ``__del__``, a formatter that
        logs, a ``RunProcessor`` in a ``ProcessorFormatter``, which then leaves the writing to this
        handler) is deferred and written right after this one (``handle`` drains it): logging that
        feeds on itself ends after a few rounds. None when the record was deferred (this thread is
        busy already) or cannot be formatted (reported as the stdlib does).
        """
        tls = _tls
        if tls.busy:  # logged from inside another record's formatting or store step
            defer(tls, self, record)
            return None
        tls.busy = True
        try:
            if compiled is not None:
                try:
                    return compiled(record, d)
                except Exception:  # (bad arguments, a field missing): Formatter.format raises its own error
                    pass
            try:
                return self._effective.format(record) + "\n"
            except Exception:  # the record's own fault (log.info("%d", "x")): not the store's
                self.handleError(record)  # as every stdlib handler does ("--- Logging error ---")
                return None
        finally:
            tls.busy = False

    def _write_slow(
        self, record: logging.LogRecord, run: Run | None, text: str | None, tagged: Any, step: Any, echoed: bool
    ) -> None:
        """Write a formatted record the careful way, with this thread marked busy (see :meth:`handle`).

        ``text`` None: the line is written already (only the values are left). Buffered when no
        run is active; buffered records written first; a new sink; the once-a-second check; the
        log opened again; values under new names; a failing store's recovery.
        """
        tls = _tls
        if tls.busy:  # logged from inside a store step of this thread: written right after it
            defer(tls, _Resume(self), (record, run, text, tagged, step, echoed))
            return
        tls.busy = True
        try:
            if run is None:
                add_pending("" if echoed or text is None else text, tagged, step)
                return
            if _pending:
                flush_pending(run)
            sink = self._sink
            if sink.run is not run:
                sink = self._sink = Sink(run)
                _log.debug("RunHandler: records of pid %d go to %s of run %s", _pid, sink.name, run.id)
            writer = sink.writer
            if record.created >= self._next_check:
                self._check(sink, record.created)
            if not echoed and text is not None:
                fd = sink.fd if writer._log_fds is sink.fds else sink.open()
                writer._write(fd, text.encode("utf-8", "backslashreplace"))  # raises StoreError saying what to do
            if tagged:
                try:
                    writer.scalars(tagged, step, record.created)  # (packed as in handle; else the careful way)
                except TypeError:  # InvalidMetricValue: store the good values, warn once per bad name
                    self._store_metrics(writer, tagged, step, record)
            if self._failing:
                if os.path.exists(sink.path):
                    self._recovered(sink)
                else:
                    self._lost += 1
        except RecursionError:
            raise
        except Exception as exc:
            self._failed(record, exc)
        finally:
            tls.busy = False
            if tls.deferred is not None:
                drain_deferred(tls)

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to the active run's driver log (``handle`` without the filters)."""
        self.handle(record, True)

    def _check(self, sink: Sink, created: float) -> None:
        """Once a second (record time): a driver log removed under us is opened again (reported once), and
        the writer's own check runs (``RunWriter.write_log`` does it; the line is not written through it):
        a removed run folder raises StoreError, every record until it is back (so each is counted lost)."""
        writer = sink.writer
        if not os.path.exists(sink.path) and writer.reopen_log(sink.name):
            _log.warning("the driver log %s of run %s was removed; it was opened again", sink.name, sink.run.id)
        if created >= writer._watch_at:
            writer._watch(_now())
        self._next_check = min(created + _CHECK_INTERVAL, writer._watch_at)

    def _store_metrics(self, writer: RunWriter, values: dict[str, Any], step: Any, record: logging.LogRecord) -> None:
        try:
            encode_step(step)
        except TypeError as exc:
            self._warn_metric("step", f"{exc}; the record's metrics were not stored", record)
            return
        for name, value in values.items():
            try:
                writer.scalars({name: value}, step, record.created)
            except TypeError as exc:
                self._warn_metric(str(name), str(exc), record)

    def _warn_metric(self, key: str, problem: str, record: logging.LogRecord) -> None:
        if key not in self._warned_metrics:
            self._warned_metrics.add(key)
            _log.warning(
                "a tagged metric of logger %r (%s:%d) was not stored: %s. "
                "Set the level of the 'runlog' logger to DEBUG for details",
                record.name,
                record.pathname,
                record.lineno,
                problem,
            )

    def _emit_diagnostic(self, record: logging.LogRecord) -> None:
        if "_runlog_written" in record.__dict__:  # another RunHandler wrote it already
            return
        record._runlog_written = True
        tls = _tls
        was_busy, tls.busy = tls.busy, True  # (logged from inside a store step: that step stays busy)
        try:
            text = redact(_SYSTEM_FORMATTER.format(record)) + "\n"
            run = active_run()
            if run is None:  # kept (bounded) for the next run's system log
                _driverlog.add_pending_system(text)
                return
            if _driverlog._pending_system:
                _driverlog.flush_pending_system(run)
            run._writer.write_log(text, SYSTEM_LOG)
        except Exception:  # the system log is best effort; never report about the reporter
            pass
        finally:
            tls.busy = was_busy
            if not was_busy and tls.deferred and not tls.draining:
                drain_deferred(tls)

    def _failed(self, record: logging.LogRecord, exc: Exception) -> None:
        self._lost += 1
        if self._failing:
            return
        self._failing = True
        self.handleError(record)
        _log.warning(
            "RunHandler could not write to the run store (%s); records are dropped until it works again. "
            "Set the level of the 'runlog' logger to DEBUG for details",
            exc,
        )

    def _recovered(self, sink: Sink) -> None:
        lost, self._lost, self._failing = self._lost, 0, False
        sink.writer.write_log(
            f"{format_utc(time.time())} WARNING:runlog:{lost} record(s) could not be written to this log "
            f"while the store was failing\n",
            sink.name,
        )
        _log.warning("RunHandler writes to run %s again (%d record(s) were lost)", sink.run.id, lost)

    def flush(self) -> None:
        """Nothing to flush: every line is in the operating system's page cache when ``emit`` returns."""

    def close(self) -> None:
        """Detach the handler (idempotent). Lines already written are kept; nothing is buffered."""
        if self._closed:
            return
        self._closed = True
        self._sink = NO_SINK
        super().close()


_SYSTEM_FORMATTER = RunFormatter(SYSTEM_FORMAT)


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()
    for handler in list(_driverlog.run_handlers):  # a child writes its own driver log (see driver_log_name)
        handler._sink = NO_SINK


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def __getattr__(name: str) -> Any:
    if name == "RunJsonFormatter":
        from ._capture.jsonformat import RunJsonFormatter  # deferred: python-json-logger is optional

        return RunJsonFormatter
    raise AttributeError(f"module 'runlog.stdlib' has no attribute {name!r}")
