import logging
from typing import Any

VERSION: int

class HotHandler:
    def handle(self, record: logging.LogRecord) -> Any: ...

def setup(record_class: type, current: Any, pending: Any, driverlog: Any, thread_state: Any, no_step: int, /) -> None: ...
