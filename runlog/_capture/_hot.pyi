import logging
from typing import Any

VERSION: int

class HotHandler:
    def handle(self, record: logging.LogRecord) -> Any: ...

def setup(*args: Any) -> None: ...  # the arguments of runlog._capture.hotpath.setup, in its order
