"""The local store: on-disk layout, the one writer per run, and readers."""

from . import layout
from .encoding import encode_scalar, encode_step
from .events import EventColumns, merge_by_time, parse_columns, parse_lines, point_names
from .reader import RunReader, RunState, decode_points, points_path, read_columns, read_process
from .writer import RunWriter, writer_for

__all__ = [
    "EventColumns",
    "RunReader",
    "RunState",
    "RunWriter",
    "decode_points",
    "encode_scalar",
    "encode_step",
    "layout",
    "merge_by_time",
    "parse_columns",
    "parse_lines",
    "point_names",
    "points_path",
    "read_columns",
    "read_process",
    "writer_for",
]
