"""The MLflow target: ships a run to an MLflow tracking server over its REST API.

The mapping (documented in ``docs/mlflow-upload.md``):

* experiment -> the MLflow experiment of the same name (get-by-name, else create; a
  create that loses a race answers ``RESOURCE_ALREADY_EXISTS`` and is looked up again);
* run -> one MLflow run tagged ``runlog.run_id``; found by that tag before one is
  created, so a retry or a restart never creates a second one;
* numeric scalars and list elements -> metric histories (timestamp = the event's time
  in ms, step = runlog's step or the per-name counter of the core), so a re-sent batch
  is dropped by the server as exact duplicates;
* string scalars -> a tag of the metric's name holding the latest value;
* rows and tables -> numeric columns as metrics ``<name>/<column>`` (step = row
  index) and the whole table as the JSON artifact ``runlog/tables/<name>.json`` in
  ``mlflow.log_table``'s format;
* tags -> tags, properties -> params (both write-once), display name -> run name,
  description -> ``mlflow.note.content``;
* files (images, outputs, logs) -> artifacts through the server's artifact proxy
  (``mlflow-artifacts``), logs re-uploaded as they grow;
* status -> ``runs/update`` with the end time.

The HTTP client is httpx with an injectable transport (``httpx.MockTransport`` in tests).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .._errors import UploadRejected, UploadUnavailable
from .._store import layout
from ._reading import iter_metric_events
from ._retry import UploadOptions, error_for_response
from ._target import MetaEvent, MetricEvent, RunInfo

if TYPE_CHECKING:
    import httpx

__all__ = ["MlflowTarget", "redact_uri", "target_name"]

_log = logging.getLogger("runlog.upload")

MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000
MAX_REQUEST_BYTES = 900_000  # the server takes ~1 MB; keep a margin for the envelope
MAX_KEY = 250
MAX_TAG_VALUE = 8000
MAX_PARAM_VALUE = 6000
HISTORY_PAGE = 25_000
RUN_ID_TAG = "runlog.run_id"
TABLES_PREFIX = "runlog/tables/"

# Test seam: the transport every MlflowTarget uses when none is given (e.g. httpx.MockTransport).
default_transport: httpx.BaseTransport | None = None

_STATUS = {"Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED"}
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")


def _import_httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "uploading to an MLflow tracking server needs httpx: pip install 'runlog[mlflow]'"
        ) from exc
    return httpx


def redact_uri(uri: str) -> str:
    """``uri`` without a password or token in it (for messages and logs)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts._replace(query="", fragment=""))


def target_name(tracking_uri: str) -> str:
    """The cursor name of an MLflow endpoint: ``mlflow-<8 hex digits of the URI without credentials>``."""
    clean = redact_uri(tracking_uri.rstrip("/"))
    return "mlflow-" + hashlib.sha1(clean.encode()).hexdigest()[:8]


def mlflow_key(name: str) -> str:
    """A runlog name as an MLflow metric/param/tag key: ``[/\\w.\\- :]``, a normalised path, <= 250 chars."""
    key = _BAD_KEY_CHARS.sub("_", str(name))
    parts = ["_" if p in (".", "..") else p for p in key.split("/") if p]
    key = "/".join(parts) or "_"
    return key[:MAX_KEY]


def _metric_value(value: Any) -> float | str | None:
    """A value as MLflow's JSON takes it, or None when it is not a number."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    return None


def _rows(kind: str, value: Any) -> list[dict[str, Any]]:
    if kind == "r" and isinstance(value, dict):
        return [value]
    if kind == "t" and isinstance(value, dict):
        n = max((len(v) for v in value.values() if isinstance(v, list)), default=0)
        return [{c: (v[i] if isinstance(v, list) and i < len(v) else None) for c, v in value.items()} for i in range(n)]
    return []


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MlflowTarget:
    """An MLflow tracking server reached over REST (``<uri>/api/2.0/mlflow/...``)."""

    max_points = MAX_METRICS
    max_meta = MAX_PARAMS

    def __init__(
        self,
        tracking_uri: str,
        *,
        transport: httpx.BaseTransport | None = None,
        options: UploadOptions | None = None,
    ) -> None:
        httpx = _import_httpx()
        if not re.match(r"^https?://", tracking_uri or ""):
            raise ValueError(
                f"the MLflow tracking URI must be an http:// or https:// URL of a tracking server; got "
                f"{redact_uri(str(tracking_uri))!r}. Start one with `mlflow server` and pass its URL"
            )
        self.options = options or UploadOptions()
        self.base = tracking_uri.rstrip("/")
        self.endpoint = redact_uri(self.base)
        self.name = target_name(self.base)
        headers = {"User-Agent": "runlog"}
        auth: Any = None
        user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
        # A token read from a file or a mounted secret often ends with a newline: an HTTP client
        # refuses that header and quotes its value (the credential) in its error.
        token = (os.environ.get("MLFLOW_TRACKING_TOKEN") or "").strip()
        if user and password:
            auth = httpx.BasicAuth(user, password)
        elif token:
            if any(ord(c) < 32 or ord(c) == 127 for c in token):
                raise ValueError(
                    "MLFLOW_TRACKING_TOKEN contains a control character (a line break?), which cannot be sent in an "
                    "HTTP header; set it to the token alone"
                )
            headers["Authorization"] = f"Bearer {token}"
        verify: Any = True
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("1", "true"):
            verify = False
        elif os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            verify = os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
        self._httpx = httpx
        self._client = httpx.Client(
            transport=transport if transport is not None else default_transport,
            timeout=httpx.Timeout(self.options.request_timeout, connect=min(10.0, self.options.request_timeout)),
            auth=auth,
            headers=headers,
            verify=verify,
        )
        self.state: dict[str, Any] = {}
        # Set by the uploader: retries one request with the one policy (see Uploader._retry_request).
        self.retry: Callable[[Callable[[], Any], str], Any] | None = None
        self._run_dir: Path | None = None
        self._tables_at = -1e9

    # -- HTTP ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            return self._request_once(method, path, what, body=body, params=params, content=content, headers=headers)

        return once() if self.retry is None else cast("dict[str, Any]", self.retry(once, what))

    def _request_once(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        httpx = self._httpx
        url = f"{self.base}/api/2.0/{path}"
        if hasattr(content, "seek"):
            content.seek(0)  # a file re-sent by a retry starts from its beginning
        try:
            response = self._client.request(method, url, json=body, params=params, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise UploadUnavailable(f"{what}: no answer from {self.endpoint} in time ({type(exc).__name__})") from exc
        except httpx.LocalProtocolError as exc:
            # Its message quotes the offending header value, which may be a credential.
            raise UploadUnavailable(f"{what}: the request to {self.endpoint} could not be sent ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise UploadUnavailable(f"{what}: cannot reach {self.endpoint} ({type(exc).__name__}: {exc})") from exc
        if response.status_code >= 300:
            raise error_for_response(response.status_code, response.headers, response.text, what=what, where=self.endpoint)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise UploadRejected(
                f"{what}: {self.endpoint} answered HTTP {response.status_code} with something that is not JSON",
                status=response.status_code,
                hint=f"check that {self.endpoint} is an MLflow tracking server (the tracking URI, not the UI of a proxy)",
            ) from exc
        return data if isinstance(data, dict) else {}

    def _api(self, method: str, endpoint: str, what: str, body: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request(method, f"mlflow/{endpoint}", what, body=body, params=params)

    def _with_retry(self, fn: Callable[[], Any], what: str) -> Any:
        return fn() if self.retry is None else self.retry(fn, what)

    # -- the remote run ------------------------------------------------------------------------

    def open(self, run: RunInfo, state: dict[str, Any]) -> None:
        self.state = state
        self._run_dir = run.run_dir
        if state.get("run_id"):
            return
        experiment_id = self._experiment_id(run.experiment)
        found = self._find_run(experiment_id, run.run_id)
        if found is None:
            # runs/create is not idempotent: a create whose answer was lost may have worked, so
            # each new attempt searches first, and the create itself is never repeated blindly.
            found = self._with_retry(
                lambda: self._find_run(experiment_id, run.run_id) or self._create_run(experiment_id, run),
                f"create the remote run of {run.run_id}",
            )
        info = found.get("info", {})
        state.update(
            run_id=info.get("run_id") or info.get("run_uuid"),
            experiment_id=str(info.get("experiment_id", experiment_id)),
            artifact_uri=info.get("artifact_uri", ""),
        )
        if not state["run_id"]:
            raise UploadRejected(
                f"{self.endpoint} answered runs/create without a run id", hint="check that it is an MLflow tracking server"
            )

    def _experiment_id(self, name: str) -> str:
        try:
            found = self._api("GET", "experiments/get-by-name", f"look up experiment {name!r}", params={"experiment_name": name})
        except UploadRejected as exc:
            if exc.status != 404 and exc.code != "RESOURCE_DOES_NOT_EXIST":
                raise
            try:
                created = self._api("POST", "experiments/create", f"create experiment {name!r}", body={"name": name})
                return str(created["experiment_id"])
            except UploadRejected as create_error:
                if create_error.code != "RESOURCE_ALREADY_EXISTS":
                    raise
                # Another process created it between our look-up and our create: fine.
                found = self._api("GET", "experiments/get-by-name", f"look up experiment {name!r}", params={"experiment_name": name})
        experiment = found.get("experiment", {})
        if experiment.get("lifecycle_stage") == "deleted":
            raise UploadRejected(
                f"experiment {name!r} is deleted on {self.endpoint}",
                hint=f"restore it (`mlflow experiments restore --experiment-id {experiment.get('experiment_id')}`) or delete it for good",
            )
        return str(experiment["experiment_id"])

    def _find_run(self, experiment_id: str, run_id: str) -> dict[str, Any] | None:
        body = {
            "experiment_ids": [experiment_id],
            "filter": f"tags.`{RUN_ID_TAG}` = '{run_id}'",
            "max_results": 1,
            "run_view_type": "ALL",
        }
        runs = self._api("POST", "runs/search", f"search the remote run of {run_id}", body=body).get("runs") or []
        return runs[0] if runs else None

    def _create_run(self, experiment_id: str, run: RunInfo) -> dict[str, Any]:
        record = run.record
        argv = record.get("argv") or []
        tags = {
            RUN_ID_TAG: run.run_id,
            "runlog.experiment": run.experiment,
            "mlflow.source.type": "LOCAL",
            "mlflow.source.name": str(argv[0]) if argv else "",
            "mlflow.user": str(record.get("user") or ""),
            "runlog.host": str(record.get("host") or ""),
        }
        if run.parent_id:
            parent = self._find_run(experiment_id, run.parent_id)
            if parent is not None:
                tags["mlflow.parentRunId"] = parent.get("info", {}).get("run_id", "")
        body = {
            "experiment_id": experiment_id,
            "start_time": int(run.start_time * 1000),
            "run_name": run.display_name or run.run_id,
            "tags": [{"key": k, "value": v[:MAX_TAG_VALUE]} for k, v in tags.items() if v],
        }
        what = f"create the remote run of {run.run_id}"
        created = self._request_once("POST", "mlflow/runs/create", what, body=body)
        return dict(created.get("run", {}))

    @property
    def run_id(self) -> str:
        return str(self.state.get("run_id", ""))

    # -- metrics, tags, params -------------------------------------------------------------------

    def send_metrics(self, events: Sequence[MetricEvent]) -> None:
        metrics: list[dict[str, Any]] = []
        tags: dict[str, str] = {}
        tables: set[str] = set()
        for e in events:
            key = mlflow_key(e.name)
            ts = int(e.time * 1000)
            if e.kind in ("s", "l"):
                values = e.value if e.kind == "l" and isinstance(e.value, list) else [e.value]
                for i, raw in enumerate(values):
                    value = _metric_value(raw)
                    if value is not None:
                        metrics.append({"key": key, "value": value, "timestamp": ts, "step": e.seq + i})
                    elif isinstance(raw, str):
                        tags[key] = raw[:MAX_TAG_VALUE]
            elif e.kind in ("r", "t"):
                tables.add(e.name)
                for i, row in enumerate(_rows(e.kind, e.value)):
                    for column, raw in row.items():
                        value = _metric_value(raw)
                        if value is not None:
                            metrics.append(
                                {"key": mlflow_key(f"{e.name}/{column}"), "value": value, "timestamp": ts, "step": e.seq + i}
                            )
        self._log_batch(metrics=metrics, tags=tags)
        if tables:
            self.state["tables_dirty"] = sorted(set(self.state.get("tables_dirty") or []) | tables)

    def _log_batch(
        self, metrics: Sequence[dict[str, Any]] = (), params: dict[str, str] | None = None, tags: dict[str, str] | None = None
    ) -> None:
        for body in _split_batches(self.run_id, list(metrics), params or {}, tags or {}):
            what = f"log {len(body['metrics'])} metric(s), {len(body['params'])} param(s), {len(body['tags'])} tag(s)"
            self._api("POST", "runs/log-batch", what, body=body)

    def send_meta(self, events: Sequence[MetaEvent]) -> None:
        tags: dict[str, str | None] = {}
        params: dict[str, str] = {}
        run_name: str | None = None
        for e in events:
            if e.kind == "tag" and e.key:
                tags[mlflow_key(e.key)] = str(e.value)[:MAX_TAG_VALUE]
            elif e.kind == "untag" and e.key:
                tags[mlflow_key(e.key)] = None
            elif e.kind == "prop" and e.key:
                params.setdefault(mlflow_key(e.key), str(e.value)[:MAX_PARAM_VALUE])
            elif e.kind == "name" and e.value:
                run_name = str(e.value)
            elif e.kind == "description" and e.value is not None:
                tags["mlflow.note.content"] = str(e.value)[:MAX_TAG_VALUE]
        to_set = {k: v for k, v in tags.items() if v is not None}
        if to_set or params:
            self._log_batch(params=params, tags=to_set)
        for key in (k for k, v in tags.items() if v is None):
            try:
                self._api("POST", "runs/delete-tag", f"delete tag {key!r}", body={"run_id": self.run_id, "key": key})
            except UploadRejected as exc:
                if exc.status != 404:
                    raise
        if run_name:
            self._api("POST", "runs/update", "rename the run", body={"run_id": self.run_id, "run_name": run_name})

    def finish(self, status: str, end_time: float | None) -> None:
        mlflow_status = _STATUS.get(status)
        if mlflow_status is None:
            return
        body: dict[str, Any] = {"run_id": self.run_id, "status": mlflow_status}
        if end_time is not None:
            body["end_time"] = int(end_time * 1000)
        self._api("POST", "runs/update", f"set status {mlflow_status}", body=body)

    # -- artifacts ----------------------------------------------------------------------------

    def _artifact_path(self, name: str) -> str:
        root = str(self.state.get("artifact_uri", ""))
        if not root.startswith("mlflow-artifacts:"):
            raise UploadRejected(
                f"the remote run's artifact location is {root!r}, not served through the tracking server",
                hint="start the server with artifact serving (`mlflow server --artifacts-destination ...`, the "
                "default since MLflow 2.0) so that runlog can upload files through it",
            )
        rest = urllib.parse.urlsplit(root)
        prefix = rest.path.strip("/")
        return f"mlflow-artifacts/artifacts/{urllib.parse.quote(prefix)}/{urllib.parse.quote(name)}"

    def _put(self, name: str, content: Any) -> None:
        self._request(
            "PUT",
            self._artifact_path(name),
            f"upload artifact {name!r}",
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )

    def send_file(self, name: str, path: Path) -> None:
        if name.startswith("logs/"):
            # A growing file: each attempt sends the size it has then, streamed (a log of
            # gigabytes is not read into memory), with that size as Content-Length.
            what = f"upload artifact {name!r}"
            url = self._artifact_path(name)

            def put_once() -> Any:
                size = path.stat().st_size
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
                return self._request_once("PUT", url, what, content=_FileHead(path, size), headers=headers)

            self._with_retry(put_once, what)
            return
        with open(path, "rb") as fh:
            self._put(name, fh)

    def flush(self, final: bool) -> None:
        dirty = list(self.state.get("tables_dirty") or [])
        if not dirty or self._run_dir is None:
            return
        now = time.monotonic()
        if not final and now - self._tables_at < self.options.log_interval:
            return
        self._tables_at = now
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in dirty}
        for kind, name, value in iter_metric_events(self._run_dir, kinds=("r", "t")):
            if name in rows:
                rows[name].extend(_rows(kind, value))
        known = set(self.state.get("tables") or [])
        for name, table in rows.items():
            columns: dict[str, None] = {}
            for row in table:
                columns.update(dict.fromkeys(row))
            data = {"columns": list(columns), "data": [[_json_safe(row.get(c)) for c in columns] for row in table]}
            self._put(self._table_file(name), json.dumps(data).encode())
            known.add(name)
        self.state["tables"] = sorted(known)
        logged = [{"path": self._table_file(n), "type": "table"} for n in sorted(known)]
        self._log_batch(tags={"mlflow.loggedArtifacts": json.dumps(logged)[:MAX_TAG_VALUE]})
        self.state["tables_dirty"] = []

    @staticmethod
    def _table_file(name: str) -> str:
        return TABLES_PREFIX + mlflow_key(name).replace("/", "_").replace(" ", "_").replace(":", "_") + ".json"

    # -- reading back -------------------------------------------------------------------------------

    def metric_keys(self, run_id: str) -> list[str]:
        run = self._api("GET", "runs/get", f"read run {run_id}", params={"run_id": run_id}).get("run", {})
        return sorted(m["key"] for m in run.get("data", {}).get("metrics", []))

    def metric_history(self, run_id: str, key: str) -> Iterator[dict[str, Any]]:
        """Every point of metric ``key`` of remote run ``run_id``, page by page, as the server orders them."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
            if token:
                params["page_token"] = token
            page = self._api("GET", "metrics/get-history", f"read the history of {key!r}", params=params)
            yield from page.get("metrics", [])
            token = page.get("next_page_token")
            if not token:
                return

    def close(self) -> None:
        self._client.close()


class _FileHead:
    """The first ``size`` bytes of a file as a body that can be sent again (each iteration reads anew)."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    def __iter__(self) -> Iterator[bytes]:
        return layout.iter_file_prefix(self.path, self.size)


def _split_batches(
    run_id: str, metrics: list[dict[str, Any]], params: dict[str, str], tags: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """log-batch bodies within the server's limits (1000 metrics, 100 params, 100 tags, 1000 in all, ~1 MB)."""
    param_items = deque({"key": k, "value": v} for k, v in params.items())
    tag_items = deque({"key": k, "value": v} for k, v in tags.items())
    metric_items = deque(metrics)
    while metric_items or param_items or tag_items:
        body: dict[str, Any] = {"run_id": run_id, "metrics": [], "params": [], "tags": []}
        size = 200
        count = 0
        for field_name, items, limit in (("params", param_items, MAX_PARAMS), ("tags", tag_items, MAX_TAGS), ("metrics", metric_items, MAX_METRICS)):
            taken = 0
            while items and taken < limit and count < MAX_ENTITIES:
                item = items[0]
                item_size = len(item["key"]) + len(str(item.get("value", ""))) + 80
                if size + item_size > MAX_REQUEST_BYTES and count:
                    break
                body[field_name].append(items.popleft())
                size += item_size
                taken += 1
                count += 1
        yield body
