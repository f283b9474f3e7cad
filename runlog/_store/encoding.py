"""How ``run.log`` values and steps are written as JSON text (see ``docs/store-format.md``)."""

from __future__ import annotations

import json
from typing import Any

from .._errors import InvalidMetricValue

__all__ = ["encode_scalar", "encode_step"]

# C-accelerated, always ASCII output (lone surrogates become \\udXXX escapes).
_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _list_hint(name: str | None) -> str:
    return (
        f"run.log does not support list type. Use run.log_list instead "
        f"(metric {name!r}: run.log takes one int, float, bool, str or None per call)."
    )


def encode_scalar(value: Any, name: str | None = None) -> str:
    """The JSON text of one metric value, as ``run.log`` stores it.

    int, float (NaN and +-inf kept, as Python's ``json`` writes them), bool, str,
    None and numpy scalars are stored as themselves; sequences are refused with a
    hint to use ``log_list``; any other object is stored as its ``repr`` (as the
    Azure ML SDK does).
    """
    t = type(value)
    if t is float:
        if value - value == 0.0:
            return repr(value)
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if t is int:
        return repr(value)
    if t is str:
        return _encode_str(value)  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    # Subclasses (numpy.float64 is a float) and numpy scalars.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return encode_scalar(float(value), name)
    if isinstance(value, str):
        return _encode_str(str(value))  # type: ignore[no-any-return]
    if t.__module__ == "numpy":
        if getattr(value, "ndim", 0) == 0 and hasattr(value, "item"):
            item = value.item()
            if type(item) is t:  # numpy.longdouble and the like hold no Python number: their float
                return encode_scalar(float(value), name)
            return encode_scalar(item, name)
        raise InvalidMetricValue(_list_hint(name), name=name)
    if isinstance(value, (list, tuple, range, set, frozenset)) or hasattr(value, "__next__"):
        raise InvalidMetricValue(_list_hint(name), name=name)
    if t.__module__.startswith(("torch", "jax", "tensorflow")) and hasattr(value, "item"):
        try:
            return encode_scalar(value.item(), name)
        except (ValueError, RuntimeError) as exc:
            raise InvalidMetricValue(_list_hint(name), name=name) from exc
    return _encode_str(repr(value))  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    """A float/int subclass or a numpy/torch/jax scalar as the Python number it holds; else ``value``."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    module = type(value).__module__
    # Exactly "numpy" as encode_scalar (numpy.ma's masked values are not numbers), torch/jax/tf tensors.
    plain_module = module == "numpy" or module.startswith(("torch", "jax", "tensorflow"))
    if plain_module and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        try:
            item = value.item()
        except (ValueError, RuntimeError):
            return value
        if type(item) in (float, int, bool):
            return item
    return value


def encode_step(step: Any, name: str | None = None) -> str:
    if step is None:
        return "null"
    if type(step) is int:
        return repr(step)
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise InvalidMetricValue(
            f"step must be an int (or None for the next one); got {step!r} of type "
            f"{type(step).__name__} for metric {name!r}",
            name=name,
        )
    return repr(step.__index__())
