"""What producers write, checked before it is written: one place for every key and argument check.

Every check returns the value to store (a key as ``str``) or raises :class:`InvalidArgumentError`
(a ``ValueError`` and a ``TypeError``) naming the call, the argument, what was expected, what was
given and what to pass instead. Nothing is written before the whole input has been checked, so a
bad call never leaves half of itself in the store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import InvalidArgumentError, did_you_mean

__all__ = ["check_file_name_part", "check_key", "check_keys", "check_kwargs", "check_mapping", "describe"]

# The longest name one folder entry may have on the usual file systems (ext4, APFS, NTFS: 255).
MAX_NAME_PART = 255


def describe(value: Any) -> str:
    """``value`` for an error message: its repr (cut to 80 characters) and its type."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} of type {type(value).__name__}"


def check_key(key: Any, *, call: str, what: str = "key", numbers: bool = False) -> str:
    """A tag/property/metric key as stored: a non-empty ``str`` (``numbers``: an int or float as its str)."""
    if isinstance(key, str):
        if key:
            return key
        raise InvalidArgumentError(f"{call}: a {what} must be a non-empty str; got ''", argument=what)
    if numbers and isinstance(key, (int, float)) and not isinstance(key, bool):
        return str(key)
    raise InvalidArgumentError(
        f"{call}: a {what} must be a non-empty str; got {describe(key)}. Pass the {what} as a string", argument=what
    )


def check_keys(keys: Any, *, call: str, what: str = "key") -> list[str]:
    """One key (a str) or an iterable of keys (a list, a set, a dict's keys), every one a non-empty str."""
    if isinstance(keys, str):
        return [check_key(keys, call=call, what=what)]
    if keys is None or isinstance(keys, (bytes, Mapping)) or not isinstance(keys, Iterable):
        hint = " (pass d.keys() or list(d), not the dict or its items)" if isinstance(keys, Mapping) else ""
        raise InvalidArgumentError(
            f"{call} takes a {what} (str) or a list of them{hint}; got {describe(keys)}", argument=what
        )
    out = []
    for key in keys:
        if not isinstance(key, str) or not key:
            hint = " (pass d.keys(), not d.items())" if isinstance(key, tuple) else ""
            raise InvalidArgumentError(
                f"{call}: every {what} must be a non-empty str{hint}; got {describe(key)}. Nothing was changed",
                argument=what,
            )
        out.append(key)
    return out


def check_mapping(value: Any, *, call: str, what: str, example: str) -> Mapping[Any, Any]:
    """A dict-like argument; ``example`` shows the caller what one looks like."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{call} takes a dict of {what}, e.g. {example}; got {describe(value)}", argument=what)
    return value


def check_kwargs(kwargs: Mapping[str, Any], known: Iterable[str], *, call: str) -> None:
    """Refuse keyword arguments a call does not know (rather than ignore them), suggesting close names."""
    unknown = [k for k in kwargs if k not in known]
    if unknown:
        names = sorted(known)
        hint = did_you_mean(unknown[0], names, f" It takes: {', '.join(names)}.")
        raise InvalidArgumentError(f"{call} got an unexpected keyword argument {unknown[0]!r}.{hint}", argument=unknown[0])


def check_file_name_part(name: str, original: Any) -> None:
    """Refuse what no file system stores: a NUL character, a folder entry longer than 255 bytes."""
    if "\0" in name:
        raise InvalidArgumentError(
            f"a run file name cannot contain a NUL character ('\\x00'); got {original!r}. Remove it", argument="name"
        )
    for part in name.split("/"):
        size = len(os.fsencode(part)) if _encodable(part) else len(part.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_PART:
            raise InvalidArgumentError(
                f"each part of a run file name may be at most {MAX_NAME_PART} bytes long (a file system limit); "
                f"{part[:40]!r}... is {size}. Use a shorter name",
                argument="name",
            )


def _encodable(text: str) -> bool:
    try:
        os.fsencode(text)
    except UnicodeError:
        return False
    return True
