import logging
from collections.abc import Callable
from typing import Any

VERSION: int

class HotHandler:
    def handle(self, record: logging.LogRecord) -> Any: ...

def setup(
    record_class: type,
    current: Any,
    pending: Any,
    driverlog: Any,
    thread_state: Any,
    no_step: int,
    trace_ids: Callable[[], tuple[str, str] | None],
    trace_suffix: Callable[[str, tuple[str, str]], str],
    handler_globals: dict[str, Any],
    /,
) -> None: ...
