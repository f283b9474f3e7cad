"""The local store: on-disk layout, the one writer per run, and readers."""

from . import layout
from .reader import EventColumns, RunReader, RunState, parse_columns, parse_lines, read_columns
from .writer import RunWriter, encode_scalar, encode_step, writer_for

__all__ = [
    "EventColumns",
    "RunReader",
    "RunState",
    "RunWriter",
    "encode_scalar",
    "encode_step",
    "layout",
    "parse_columns",
    "parse_lines",
    "read_columns",
    "writer_for",
]
