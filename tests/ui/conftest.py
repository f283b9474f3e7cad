"""Fixtures of the viewer's tests: a browser, and a seeded store served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright
from ui_helpers import CHROMIUM_ARGS, chromium_path, seed, serve


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (never `playwright install`)."""
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store seeded with runs (ui_helpers.seed), served for the module; an httpx client on it."""
    store = tmp_path_factory.mktemp("ui-api") / "store"
    runs = seed(store)
    with serve(store) as url:
        runs["url"] = url
        runs["store"] = store
        runs["http"] = httpx.Client(base_url=url, timeout=10)
        yield runs
        runs["http"].close()
    runs["live"].complete()
