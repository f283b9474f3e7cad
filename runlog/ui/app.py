"""The viewer's ASGI app: the JSON API under ``/api/`` and the single-page app that uses it.

Starlette, served by uvicorn (``runlog ui``). Every answer comes from
:class:`runlog.ui.query.StoreQuery`; this module only maps HTTP onto it and adds
the safety rules of ``docs/viewer.md`` (token gate, Host check, headers).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the runlog viewer needs Starlette and uvicorn: pip install 'runlog[ui]'"
    ) from exc

from .._errors import RunFileNotFound, RunNotFound
from .._store import layout
from .logs import parse_offsets
from .openapi import openapi_schema
from .query import DEFAULT_POINTS, IMAGE_TYPES, MetricNotFound, StoreQuery

__all__ = ["TOKEN_COOKIE", "create_app"]

_log = logging.getLogger("runlog.ui")

STATIC_DIR = Path(__file__).parent / "static"
TOKEN_COOKIE = "runlog_token"
_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{16,}")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# A run's own files are shown as data, never as a page of this origin (an .html or .svg output
# could otherwise run script with the viewer's cookie).
FILE_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
TEXT_SUFFIXES = frozenset(
    {".txt", ".log", ".json", ".jsonl", ".csv", ".tsv", ".md", ".yaml", ".yml", ".py", ".cfg", ".ini", ".toml", ".out", ".err"}
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class JSON(JSONResponse):
    """Compact JSON; values are made NaN-free by the query layer, so ``allow_nan=False`` holds."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (a non-UTF-8 file name or argument decoded with surrogateescape) has no
            # UTF-8 form; as a \uXXXX escape it is valid JSON that every parser reads back.
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(status: int, code: str, message: str) -> JSON:
    return JSON({"error": {"code": code, "message": message}}, status_code=status)


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"query parameter {name!r} must be an integer; got {raw!r}") from None


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"query parameter {name!r} must be a number; got {raw!r}") from None


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise ValueError(f"query parameter {name!r} is required, e.g. ?{name}=loss")
    return value


def _q(request: Request) -> StoreQuery:
    query: StoreQuery = request.app.state.query
    return query


# -- endpoints ---------------------------------------------------------------------------


async def index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


def api_openapi(request: Request) -> JSON:
    return JSON(openapi_schema())


def api_experiments(request: Request) -> JSON:
    return JSON({"experiments": _q(request).experiments()})


def api_runs(request: Request) -> JSON:
    p = request.query_params
    return JSON(_q(request).runs(
        experiment=p.get("experiment"), status=p.get("status"), tag=p.get("tag"), search=p.get("q"),
        filter_string=p.get("filter"), order_by=[o for o in p.getlist("order_by") if o.strip()],
        max_results=_int_param(request, "max_results", None), page_token=p.get("page_token"),
    ))  # fmt: skip


def api_run(request: Request) -> JSON:
    return JSON(_q(request).run(request.path_params["run_id"]))


def api_series(request: Request) -> JSON:
    return JSON(
        _q(request).series(
            request.path_params["run_id"],
            _required(request, "name"),
            x=request.query_params.get("x", "step"),
            points=_int_param(request, "points", DEFAULT_POINTS) or DEFAULT_POINTS,
            xmin=_float_param(request, "xmin"),
            xmax=_float_param(request, "xmax"),
            rank=_rank_param(request),
        )
    )


def _rank_param(request: Request) -> int | str | None:
    """``?rank=``: a rank number, ``merged`` (every rank's values in one series); absent: the lowest rank's."""
    raw = request.query_params.get("rank")
    if raw is None or raw == "":
        return None
    if raw.isdigit():
        return int(raw)
    if raw in ("merged", "all"):
        return raw
    raise ValueError(f"query parameter 'rank' must be a rank number (0, 1, ...) or 'merged'; got {raw!r}")


def api_table(request: Request) -> JSON:
    return JSON(_q(request).table(request.path_params["run_id"], _required(request, "name")))


def api_files(request: Request) -> JSON:
    return JSON({"run_id": request.path_params["run_id"], "files": _q(request).files(request.path_params["run_id"])})


def _stream_file(path: Path, size: int) -> Iterator[bytes]:
    # Exactly `size` bytes: a log that grows while it is sent must not overrun Content-Length.
    return layout.iter_file_prefix(path, size)


def api_file(request: Request) -> Response:
    run_id, name = request.path_params["run_id"], request.path_params["name"]
    path = _q(request).file_path(run_id, name)
    size = path.stat().st_size
    suffix = path.suffix.lower()
    download = request.query_params.get("download") not in (None, "", "0", "false")
    base = name.rsplit("/", 1)[-1]
    headers = {"Content-Length": str(size), "Content-Security-Policy": FILE_CSP, "Cache-Control": "no-store"}
    if download or (suffix not in IMAGE_TYPES and suffix not in TEXT_SUFFIXES):
        media_type = "application/octet-stream"
        disposition = "attachment"
    else:
        media_type = IMAGE_TYPES.get(suffix, "text/plain; charset=utf-8")
        disposition = "inline"
    headers["Content-Disposition"] = _disposition(disposition, base)
    return StreamingResponse(_stream_file(path, size), media_type=media_type, headers=headers)


def api_logs(request: Request) -> JSON:
    """Without name: the run's logs and each rank's driver log (``ranks``). ``rank=all``: every rank's
    driver log interleaved by time (poll with ``offsets=<next_offsets>``); ``rank=N``: rank N's driver log."""
    run_id = request.path_params["run_id"]
    name = request.query_params.get("name")
    rank = request.query_params.get("rank")
    if rank and name:
        raise ValueError("pass name= (one log file) or rank= (a rank's driver log, or all), not both")
    if rank == "all":
        return JSON(
            _q(request).rank_logs(
                run_id,
                offsets=parse_offsets(request.query_params.get("offsets")),
                max_bytes=_int_param(request, "max_bytes", 256 * 1024) or 1024,
            )
        )
    if rank:
        if not rank.isdigit():
            raise ValueError(f"query parameter 'rank' must be a rank number (0, 1, ...) or 'all'; got {rank!r}")
        name = _q(request).rank_log_name(run_id, int(rank))
    if not name:
        return JSON(_q(request).log_names(run_id))
    return JSON(
        _q(request).log(
            run_id,
            name,
            offset=_int_param(request, "offset", None),
            max_bytes=_int_param(request, "max_bytes", 256 * 1024) or 1024,
            before=_int_param(request, "before", None),
        )
    )


def api_download(request: Request) -> Response:
    """Every file of the run as a zip, streamed while it is made (no Content-Length: chunked)."""
    run_id = request.path_params["run_id"]
    chunks = _q(request).iter_zip(run_id)  # a missing run is a 404 here, before the response starts
    return StreamingResponse(chunks, media_type="application/zip", headers={"Content-Disposition": _disposition("attachment", f"{run_id}.zip")})


def _disposition(kind: str, file_name: str) -> str:
    """A Content-Disposition header: a plain ASCII name as is, any other (a quote, a newline, a name
    in another script: headers are Latin-1) in RFC 5987 form."""
    quoted = quote(file_name)
    return f'{kind}; filename="{file_name}"' if quoted == file_name else f"{kind}; filename*=utf-8''{quoted}"


# -- errors ------------------------------------------------------------------------------------


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, type(exc).__name__, str(exc.args[0]) if exc.args else str(exc))


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _error(400, "BadRequest", str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path == "/api" or request.url.path.startswith("/api/") or exc.status_code != 404:
        return _error(exc.status_code, "NotFound" if exc.status_code == 404 else "HTTPError", str(exc.detail))
    return Response("Not Found", status_code=404, media_type="text/plain")


# -- the gate: Host check, token, headers -----------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _is_loopback_ip(host: str) -> bool:
    # Any loopback address literal (`runlog ui --host 127.0.0.2`): a rebinding page's Host is its name.
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Gate:
    """Checks every request before the app sees it.

    Without a token (the server is bound to a loopback address): the Host header
    must name a loopback host, so a web page elsewhere cannot reach the viewer by
    DNS rebinding. With a token: every request must carry it, as
    ``Authorization: Bearer <token>``, an ``X-Runlog-Token`` header, a ``token``
    query parameter, or the cookie set after the first such request.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def _carried(self, scope: Scope) -> tuple[str | None, str]:
        auth = _header(scope, b"authorization")
        if auth and auth.lower().startswith("bearer "):
            return auth[7:].strip(), "header"
        header = _header(scope, b"x-runlog-token")
        if header:
            return header, "header"
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
            if key == "token":
                return value, "query"
        cookie = _header(scope, b"cookie")
        if cookie:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(cookie)
            except Exception:
                return None, ""
            if TOKEN_COOKIE in jar:
                return jar[TOKEN_COOKIE].value, "cookie"
        return None, ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.token is None:
            host = _host_name((_header(scope, b"host") or "127.0.0.1").lower())
            if host not in LOOPBACK_HOSTS and not _is_loopback_ip(host):
                await _plain(send, 403, "This runlog viewer answers only to 127.0.0.1/localhost. Use --token to serve other hosts.")
                return
            await self.app(scope, receive, _with_headers(send, path, None))
            return
        carried, how = self._carried(scope)
        if carried is None or not hmac.compare_digest(carried.encode(), self.token.encode()):
            if path.startswith("/api/"):
                body = {"error": {"code": "Unauthorized", "message": "this viewer needs its token: send 'Authorization: Bearer <token>' or ?token=<token>"}}
                await _send(send, 401, json.dumps(body).encode(), b"application/json", [(b"www-authenticate", b"Bearer")])
            else:
                await _plain(send, 401, "This runlog viewer needs its token: open the address `runlog ui` printed (it ends in ?token=...).")
            return
        cookie = None
        if how != "cookie":
            cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        if how == "query" and scope.get("method") == "GET" and not path.startswith("/api/"):
            # Keep the token out of the address bar and history: set the cookie, drop the parameter.
            rest = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k != "token"]
            # The path as it came (percent-encoded), and never `//host/...`: that would be another site.
            raw = scope.get("raw_path")
            target = raw.decode("latin-1") if isinstance(raw, bytes) else quote(path)
            location = "/" + target.lstrip("/") + ("?" + urlencode(rest) if rest else "")
            await _send(send, 303, b"", b"text/plain", [(b"location", location.encode("latin-1")), (b"set-cookie", (cookie or "").encode())])
            return
        await self.app(scope, receive, _with_headers(send, path, cookie))


def _with_headers(send: Send, path: str, cookie: str | None) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            headers.append((b"x-content-type-options", b"nosniff"))
            headers.append((b"referrer-policy", b"no-referrer"))
            headers.append((b"x-frame-options", b"DENY"))
            if b"content-security-policy" not in names:
                headers.append((b"content-security-policy", PAGE_CSP.encode()))
            if path.startswith("/api/") and b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            if cookie:
                headers.append((b"set-cookie", cookie.encode("latin-1")))
            message["headers"] = headers
        await send(message)

    return wrapped


async def _send(send: Send, status: int, body: bytes, media_type: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, text: str) -> None:
    await _send(send, status, text.encode(), b"text/plain; charset=utf-8", [])


# -- the app ------------------------------------------------------------------------------------


ROUTES = [
    Route("/", index),
    Route("/api/openapi.json", api_openapi),
    Route("/api/experiments", api_experiments),
    Route("/api/runs", api_runs),
    Route("/api/runs/{run_id}", api_run),
    Route("/api/runs/{run_id}/series", api_series),
    Route("/api/runs/{run_id}/table", api_table),
    Route("/api/runs/{run_id}/files", api_files),
    Route("/api/runs/{run_id}/files/{name:path}", api_file),
    Route("/api/runs/{run_id}/logs", api_logs),
    Route("/api/runs/{run_id}/download", api_download),
]


def create_app(store: str | os.PathLike[str], token: str | None = None, warm: bool = False) -> ASGIApp:
    """The viewer app for ``store``.

    ``token``: when set, every request must carry it (see :class:`Gate`); required
    whenever the server listens on anything but a loopback address.
    ``warm``: parse the whole store in a background thread at startup, so the first
    page load answers from the cache.
    """
    if token is not None and not _TOKEN.fullmatch(token):
        raise ValueError(
            "a viewer token must be at least 16 characters from A-Z a-z 0-9 - _ . ~ (it travels in a URL and "
            "a cookie); leave it out to get a generated one"
        )
    query = StoreQuery(store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if warm:
            threading.Thread(target=query.warm, name="runlog-ui-warm", daemon=True).start()
        yield

    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")],
        exception_handlers={
            RunNotFound: _not_found,
            RunFileNotFound: _not_found,
            MetricNotFound: _not_found,
            FileNotFoundError: _not_found,
            ValueError: _bad_request,
            HTTPException: _http_error,
        },
        lifespan=lifespan,
    )
    app.state.query = query
    return Gate(app, token)
