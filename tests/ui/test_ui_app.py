"""runlog.ui.app: the viewer's ASGI app: routes, the host and token gate, security headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_helpers import serve

import runlog
from runlog.ui import app as app_module
from runlog.ui.app import create_app


def test_loopback_server_refuses_other_host_headers(seeded: dict[str, Any]) -> None:
    """Without a token the server answers only requests addressed to a loopback host (no DNS rebinding)."""
    http = seeded["http"]
    assert http.get("/api/runs", headers={"Host": "evil.example:5050"}).status_code == 403
    assert http.get("/api/runs", headers={"Host": "localhost:5050"}).status_code == 200
    assert http.get("/api/runs", headers={"Host": "LocalHost"}).status_code == 200
    assert http.get("/api/runs", headers={"Host": "[::1]:5050"}).status_code == 200
    assert http.get("/api/runs", headers={"Host": "127.0.0.1.evil.example"}).status_code == 403


def test_a_server_bound_to_another_loopback_address_answers_it(tmp_path: Path) -> None:
    """`runlog ui --host 127.0.0.2` needs no token (loopback): requests addressed to it are served, names still refused."""
    from runlog.ui.app import Gate

    answered: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    import asyncio

    gate = Gate(app, None)
    for host in (b"127.0.0.2:5050", b"127.1.2.3", b"[::1]:5050", b"rebind.example:5050", b"127.0.0.2.nip.io"):
        scope = {
            "type": "http",
            "path": "/api/runs",
            "method": "GET",
            "headers": [(b"host", host)],
            "query_string": b"",
        }
        asyncio.run(gate(scope, None, send))  # type: ignore[arg-type]
    assert answered == [200, 200, 200, 403, 403]


def test_the_token_landing_redirect_stays_on_this_server() -> None:
    """`?token=` on a page redirects to the same path on this server: `//host` is not another site, non-ASCII is no 500."""
    import asyncio

    from runlog.ui.app import Gate

    token = "landing-token-0123456789"
    answers: list[tuple[int, dict[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            answers.append((message["status"], dict(message["headers"])))

    gate = Gate(app, token)
    for path, raw in (("//evil.example/x", b"//evil.example/x"), ("/caf\u00e9", b"/caf%C3%A9")):
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": raw, "headers": [(b"host", b"lan:5050")],
                 "query_string": f"token={token}&x=1".encode()}  # fmt: skip
        asyncio.run(gate(scope, None, send))  # type: ignore[arg-type]
    assert [(status, h[b"location"]) for status, h in answers] == [
        (303, b"/evil.example/x?x=1"),
        (303, b"/caf%C3%A9?x=1"),
    ]


def test_page_and_security_headers(seeded: dict[str, Any]) -> None:
    """The page is served with a strict CSP (no inline script), nosniff and no framing; static assets ship."""
    http = seeded["http"]
    page = http.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert page.headers["x-frame-options"] == "DENY"
    for asset in (
        "/static/app.js",
        "/static/app.css",
        "/static/vendor/uPlot.iife.min.js",
        "/static/vendor/uPlot.min.css",
    ):
        assert http.get(asset).status_code == 200, asset


def test_token_is_required_on_every_request(tmp_path: Path) -> None:
    """With a token: no token or a wrong one is 401; header, query parameter and the cookie it sets work."""
    store = tmp_path / "tokstore"
    runlog.Experiment(runlog.Workspace(store), "t").start_logging(outputs=False).complete()
    with serve(store, token="s3cret-token-0123456") as url, httpx.Client(base_url=url) as http:
        assert http.get("/api/runs").status_code == 401
        assert http.get("/").status_code == 401
        assert http.get("/static/app.js").status_code == 401
        assert http.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert http.get("/api/runs", headers={"Authorization": "Bearer s3cret-token-0123456"}).status_code == 200
        assert http.get("/api/runs", headers={"X-Runlog-Token": "s3cret-token-0123456"}).status_code == 200
        assert http.get("/api/runs", params={"token": "s3cret-token-0123456"}).status_code == 200
    with serve(store, token="s3cret-token-0123456") as url, httpx.Client(base_url=url) as browser:
        landing = browser.get("/", params={"token": "s3cret-token-0123456", "x": "1"})
        assert landing.status_code == 303 and landing.headers["location"] == "/?x=1"
        assert "HttpOnly" in landing.headers["set-cookie"] and "SameSite=Strict" in landing.headers["set-cookie"]
        # the client keeps the cookie: later requests need nothing else
        assert browser.get("/").status_code == 200
        assert browser.get("/api/runs").status_code == 200
        browser.cookies.clear()
        assert browser.get("/api/runs").status_code == 401


def test_bad_parameters_are_400s_naming_the_parameter(seeded: dict[str, Any]) -> None:
    http = seeded["http"]
    run_id = seeded["alpha"].id
    cases = [
        ({}, "query parameter 'name' is required"),
        ({"name": "loss", "points": "many"}, "'points' must be an integer"),
        ({"name": "loss", "xmin": "low"}, "'xmin' must be a number"),
        ({"name": "loss", "x": "wall"}, "x must be 'step', 'time' or 'relative'"),
    ]
    for params, message in cases:
        resp = http.get(f"/api/runs/{run_id}/series", params=params)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "BadRequest", params
        assert message in resp.json()["error"]["message"], resp.text


def test_an_unknown_api_path_is_a_json_404_and_a_page_path_a_plain_one(seeded: dict[str, Any]) -> None:
    http = seeded["http"]
    api = http.get("/api/nothing")
    assert api.status_code == 404 and api.json()["error"]["code"] == "NotFound"
    page = http.get("/nothing")
    assert (
        page.status_code == 404 and page.headers["content-type"].startswith("text/plain") and page.text == "Not Found"
    )


def test_a_download_name_that_is_not_plain_ascii_is_rfc_5987() -> None:
    assert app_module._disposition("attachment", "run_1.zip") == 'attachment; filename="run_1.zip"'
    assert app_module._disposition("inline", 'a"b.txt') == "inline; filename*=utf-8''a%22b.txt"
    assert app_module._disposition("inline", "résumé.txt") == "inline; filename*=utf-8''r%C3%A9sum%C3%A9.txt"


def test_the_host_header_s_name_is_read_without_its_port() -> None:
    assert app_module._host_name("localhost:5050") == "localhost"
    assert app_module._host_name("[::1]:5050") == "::1"
    assert app_module._host_name("::1") == "::1"  # a bare IPv6 literal keeps its colons
    assert app_module._is_loopback_ip("127.0.0.9") and not app_module._is_loopback_ip("localhost")


def test_a_short_or_unsafe_token_is_refused(tmp_path: Path) -> None:
    for token in ("short", "a token with spaces!!", "x" * 15):
        with pytest.raises(ValueError, match="at least 16 characters"):
            create_app(tmp_path, token=token)
    assert create_app(tmp_path, token="A-Za-z0-9_.~-long") is not None


def test_json_with_a_lone_surrogate_is_escaped_not_an_error() -> None:
    assert json.loads(app_module.JSON({"a": "x\udcff", "b": "é"}).body) == {"a": "x\udcff", "b": "é"}
    assert app_module.JSON({"b": "é"}).body == '{"b":"é"}'.encode()  # compact, UTF-8 when it can be
