from typing import Any

VERSION: int

def pack(spec: tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]], values: dict[str, Any], st: int, now: float, /) -> bytes | None: ...
