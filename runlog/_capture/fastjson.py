"""``json.JSONEncoder(...).encode`` without its per-call set-up: the C encoder built once.

``JSONEncoder.encode`` builds a new C encoder (``json.encoder.c_make_encoder``) for every value it
encodes, with a new dict of markers to find cycles: about 0.5 µs of a 1.5 µs call for a log record's
few keys. :func:`encoder` builds the C encoder once, with one dict of markers, and returns a function
that gives exactly what ``encode`` gives: for a value the C encoder cannot take as it is (a cycle,
a value ``default`` fails on, a key JSON cannot hold) it calls ``encode`` itself, which answers with
its own text or its own error (so ``default`` runs twice for such a value). Threads share the
markers: a thread that meets another's marker, or loses its own to another's failure, falls back to
``encode`` too, so the answer stays ``encode``'s. Without the C encoder (another Python), it is ``encode``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["encoder"]


def encoder(
    default: Callable[[Any], Any], *, ensure_ascii: bool = False, separators: tuple[str, str] = (", ", ": ")
) -> Callable[[Any], str]:
    """``json.JSONEncoder(ensure_ascii=..., default=default, separators=separators).encode``, faster."""
    stdlib = json.JSONEncoder(ensure_ascii=ensure_ascii, default=default, separators=separators)
    encode = stdlib.encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encode
    basestring = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    markers: dict[int, Any] = {}  # (shared: a cycle is found at once, as encode finds it)
    try:
        fast = make(
            markers, stdlib.default, basestring, None, stdlib.key_separator, stdlib.item_separator, False, False, True
        )
        probe = {"a": [1, 2.5, None, True, "é\n"], "b": {"c": float("nan")}}
        if "".join(fast(probe, 0)) != encode(probe):
            return encode
    except Exception:  # (a Python whose C encoder takes other arguments)
        return encode
    join = "".join

    def fast_encode(value: Any) -> str:
        try:
            return join(fast(value, 0))
        except Exception:  # what the C encoder could not take as it is
            markers.clear()  # (a failure leaves the containers it was in)
        # encode's own answer or error (called here, not in the except: its error has no context of ours)
        return encode(value)

    return fast_encode
