"""The local web viewer: ``runlog ui`` (needs ``pip install 'runlog[ui]'``).

:func:`create_app` builds the ASGI app (Starlette) for a store; the pages and
the JSON API are described in ``docs/viewer.md``. The read side,
:class:`~runlog.ui.query.StoreQuery`, needs no web framework.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(store: Any, token: str | None = None, warm: bool = False) -> Any:
    """The viewer's ASGI app for ``store`` (see :func:`runlog.ui.app.create_app`)."""
    from .app import create_app as _create_app  # deferred: Starlette is the optional `ui` extra

    return _create_app(store, token=token, warm=warm)
