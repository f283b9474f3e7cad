"""The local store: on-disk layout, the one writer per run, and readers."""

from . import layout
from .reader import RunReader, RunState, parse_lines
from .writer import RunWriter, encode_scalar, encode_step, writer_for

__all__ = [
    "RunReader",
    "RunState",
    "RunWriter",
    "encode_scalar",
    "encode_step",
    "layout",
    "parse_lines",
    "writer_for",
]
