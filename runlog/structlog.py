"""structlog integration: :class:`RunProcessor` writes each event to the active run's driver log.

Place it in a structlog pipeline, before the renderer::

    structlog.configure(processors=[
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        runlog.structlog.RunProcessor(),
        structlog.dev.ConsoleRenderer(),
    ])
    log.info("epoch done", metrics={"loss": 0.1}, step=3)   # a tagged metric event

- Each event becomes one JSON line of the driver log (``timestamp``, ``level``,
  ``event`` and every other key; ``trace_id``/``span_id`` while an OpenTelemetry
  span is recording; ``exc_info`` rendered as ``exception``), or whatever
  ``renderer=`` returns. The event dict itself is passed on unchanged.
- ``metrics=`` and ``step=`` keys store the values in the run's metric store.
- ``RunProcessor(drop=True)`` ends the pipeline (raises ``structlog.DropEvent``) when
  the run is the only destination.
- Wired to stdlib logging (``wrap_for_formatter``/``ProcessorFormatter``, or in a
  ``ProcessorFormatter``'s ``foreign_pre_chain``/``processors``) together with a
  :class:`runlog.RunHandler`: each event is written once, by whichever sees it first.
- Records of runlog's own ``runlog.*`` loggers are never written to the driver log.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

try:
    import structlog
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "runlog.structlog needs structlog, which is not installed: pip install 'runlog[structlog]'"
    ) from exc

from ._capture import driverlog as _driverlog
from ._capture.driverlog import (
    _pending,
    add_pending,
    drain_deferred,
    driver_log_name,
    flush_pending,
    format_utc,
    thread_state,
)
from ._capture.fastjson import encoder
from ._capture.trace import current_trace_ids
from ._diagnostics import get_logger, is_sdk_logger
from ._model.context import active_run
from ._store.writer import encode_step

if TYPE_CHECKING:
    from ._model.run import Run

__all__ = ["RunProcessor"]

_log = get_logger("runlog.structlog")

EventDict = MutableMapping[str, Any]
Renderer = Callable[[Any, str, EventDict], "str | bytes"]


def _json_default(obj: Any) -> Any:
    return repr(obj)


_modules = sys.modules
_META = frozenset(("_record", "_from_structlog"))
_dumps = encoder(_json_default)  # json.dumps(..., ensure_ascii=False, default=_json_default), the C encoder built once


def _render_exception(exc_info: Any) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[0] is not None:
        return "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    return None


class RunProcessor:
    """A structlog processor that writes each event to the active run (see the module documentation).

    :param renderer: ``(logger, method_name, event_dict) -> str`` for the driver-log line
        (e.g. ``structlog.processors.JSONRenderer()`` or ``KeyValueRenderer()``); it gets a
        copy of the event. Default: runlog's JSON line.
    :param drop: raise ``structlog.DropEvent`` after writing, to end the pipeline here.
    """

    def __init__(self, *, renderer: Renderer | None = None, drop: bool = False) -> None:
        self.renderer = renderer
        self.drop = drop
        self._sink: tuple[Run, int, str] | None = None
        _driverlog.structlog_used = True
        _driverlog.add_mark_reader(self)
        self._warned = False
        self._warned_metrics: set[str] = set()

    def __repr__(self) -> str:
        return f"RunProcessor(renderer={self.renderer!r}, drop={self.drop})"

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        tls = thread_state
        if tls.busy:
            return event_dict
        record = event_dict.get("_record")
        if record is not None and ("_runlog_written" in record.__dict__ or is_sdk_logger(record.name)):
            return event_dict
        tls.busy = True
        try:
            line = self._render(logger, method_name, event_dict, record)
            tagged = event_dict.get("metrics")
            step = event_dict.get("step")
            if tagged is None and record is not None:  # a stdlib record: extra=runlog.metrics(...)
                tagged, step = record.__dict__.get("metrics"), record.__dict__.get("step")
            if tagged is not None and type(tagged) is not dict:
                tagged = dict(tagged) if isinstance(tagged, Mapping) else None
            run = active_run()
            if run is None:
                add_pending(line, tagged, step)
            else:
                if _pending:
                    flush_pending(run)
                sink = self._sink
                if sink is None or sink[0] is not run or sink[1] != _driverlog.current_pid:
                    sink = self._sink = (run, _driverlog.current_pid, driver_log_name(run))
                writer = run._writer
                writer.write_log(line, sink[2])
                if tagged:
                    try:
                        writer.scalars(tagged, step)
                    except TypeError:  # InvalidMetricValue: store the good values, warn once per bad name
                        self._store_each(writer, tagged, step, event_dict.get("event"))
        except Exception as exc:  # a logging call never fails because of runlog
            if not self._warned:
                self._warned = True
                _log.warning(
                    "runlog.structlog.RunProcessor could not write an event to the run (%s: %s); "
                    "the event is passed on. Set the level of the 'runlog' logger to DEBUG for details",
                    type(exc).__name__,
                    exc,
                )
        finally:
            tls.busy = False
            if tls.deferred is not None:
                drain_deferred(tls)
        if record is not None:
            record._runlog_written = True
            tls.written_msg, tls.written_created = record.msg, record.created
        else:
            tls.written_msg, tls.written_created = event_dict, None
            if self.drop:
                raise structlog.DropEvent
        return event_dict

    def _store_each(self, writer: Any, values: dict[str, Any], step: Any, event: Any) -> None:
        problems: list[tuple[str, str]] = []
        try:
            encode_step(step)
        except TypeError as exc:
            problems.append(("step", f"{exc}; the event's metrics were not stored"))
        else:
            for name, value in values.items():
                try:
                    writer.scalar(name, value, step)
                except TypeError as exc:
                    problems.append((str(name), str(exc)))
        for key, problem in problems:
            if key not in self._warned_metrics:
                self._warned_metrics.add(key)
                _log.warning(
                    "a tagged metric of the structlog event %r was not stored: %s. "
                    "Set the level of the 'runlog' logger to DEBUG for details",
                    event,
                    problem,
                )

    def _render(self, logger: Any, method_name: str, event_dict: EventDict, record: Any) -> str:
        ids = current_trace_ids() if "opentelemetry.trace" in _modules else None
        if (
            ids is None
            and record is None
            and self.renderer is None
            and "timestamp" in event_dict
            and "level" in event_dict
            and "exc_info" not in event_dict
        ):
            return _dumps(event_dict) + "\n"  # the common case (structlog's own key order), no copy
        if self.renderer is not None:
            ed = {k: v for k, v in event_dict.items() if k not in _META}
            if ids is not None:
                ed["trace_id"], ed["span_id"] = ids
            rendered_line = self.renderer(logger, method_name, ed)
            text = (
                rendered_line.decode("utf-8", "replace") if isinstance(rendered_line, bytes) else str(rendered_line)
            )
            return text if text.endswith("\n") else text + "\n"
        # timestamp, level, logger and event first (as a reader scans a log), then the rest.
        out: dict[str, Any] = {
            "timestamp": event_dict.get("timestamp")
            or format_utc(record.created if record is not None else time.time()),
            "level": event_dict.get("level")
            or (record.levelname.lower() if record is not None else method_name),
        }
        name = event_dict.get("logger") or (record.name if record is not None else None)
        if name is not None:
            out["logger"] = name
        out["event"] = event_dict.get("event")
        for key, value in event_dict.items():
            if key not in out and key not in _META:
                out[key] = value
        if "exc_info" in out:
            rendered = _render_exception(out.pop("exc_info"))
            if rendered is not None:
                out["exception"] = rendered
        if ids is not None:
            out["trace_id"], out["span_id"] = ids
        return _dumps(out) + "\n"
