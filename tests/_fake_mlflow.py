"""An in-memory MLflow tracking server behind ``httpx.MockTransport``, with scripted faults.

It follows the real server where the uploader depends on it: ``RESOURCE_ALREADY_EXISTS``
as HTTP 400, exact duplicate metrics ignored, params write-once, history ordered by
(timestamp, step, value), artifacts through ``mlflow-artifacts``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httpx

_NAME = re.compile(r"^[/\w.\- :]*$")


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error_code": code, "message": message})


class FakeMlflow:
    """State of one fake server; ``transport()`` gives the transport to pass to a target."""

    def __init__(self) -> None:
        self.experiments: dict[str, str] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.artifacts: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []
        self.faults: list[Callable[[httpx.Request], httpx.Response | None]] = []
        self.lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail_next(self, *responses: httpx.Response | type[Exception], when: str = "") -> None:
        """Answer the next requests whose path contains ``when`` with these responses (or raise)."""
        queue = list(responses)

        def fault(request: httpx.Request) -> httpx.Response | None:
            if not queue or when not in request.url.path:
                return None
            item = queue.pop(0)
            if isinstance(item, type):
                raise item("injected", request=request) if issubclass(item, httpx.RequestError) else item()
            return item

        self.faults.append(fault)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            for fault in self.faults:
                answer = fault(request)
                if answer is not None:
                    return answer
            return self._route(request)

    # -- the API -----------------------------------------------------------------------------

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/api/2.0/mlflow-artifacts/artifacts/") and request.method == "PUT":
            self.artifacts[unquote(path[len("/api/2.0/mlflow-artifacts/artifacts/") :])] = request.read()
            return httpx.Response(200, json={})
        body = json.loads(request.read() or b"{}") if request.method == "POST" else dict(request.url.params)
        endpoint = path.removeprefix("/api/2.0/mlflow/")
        handler = getattr(self, "_" + endpoint.replace("/", "_").replace("-", "_"), None)
        if handler is None:
            return _error(404, "ENDPOINT_NOT_FOUND", f"no {path}")
        result: httpx.Response = handler(body)
        return result

    def _experiments_get_by_name(self, q: dict[str, Any]) -> httpx.Response:
        name = q["experiment_name"]
        if name not in self.experiments:
            return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'")
        return httpx.Response(200, json={"experiment": {"experiment_id": self.experiments[name], "name": name, "lifecycle_stage": "active"}})

    def _experiments_create(self, q: dict[str, Any]) -> httpx.Response:
        if q["name"] in self.experiments:
            return _error(400, "RESOURCE_ALREADY_EXISTS", f"Experiment(name={q['name']}) already exists.")
        self.experiments[q["name"]] = str(len(self.experiments) + 1)
        return httpx.Response(200, json={"experiment_id": self.experiments[q["name"]]})

    def _runs_create(self, q: dict[str, Any]) -> httpx.Response:
        run_id = uuid.uuid4().hex
        exp = q["experiment_id"]
        self.runs[run_id] = {
            "info": {
                "run_id": run_id, "experiment_id": exp, "status": "RUNNING", "start_time": q.get("start_time"),
                "run_name": q.get("run_name"), "artifact_uri": f"mlflow-artifacts:/{exp}/{run_id}/artifacts",
            },
            "tags": {t["key"]: t["value"] for t in q.get("tags", [])},
            "params": {},
            "metrics": [],
        }  # fmt: skip
        return httpx.Response(200, json={"run": {"info": self.runs[run_id]["info"]}})

    def _runs_search(self, q: dict[str, Any]) -> httpx.Response:
        m = re.match(r"tags\.`([^`]+)` = '([^']*)'", q.get("filter", ""))
        found = [
            {"info": r["info"]}
            for r in self.runs.values()
            if r["info"]["experiment_id"] in q["experiment_ids"] and (m is None or r["tags"].get(m[1]) == m[2])
        ]
        return httpx.Response(200, json={"runs": found[: q.get("max_results", 1000)]} if found else {})

    def _runs_log_batch(self, q: dict[str, Any]) -> httpx.Response:
        run = self.runs.get(q["run_id"])
        if run is None:
            return _error(404, "RESOURCE_DOES_NOT_EXIST", "no run")
        metrics, params, tags = q.get("metrics", []), q.get("params", []), q.get("tags", [])
        if len(metrics) > 1000 or len(params) > 100 or len(tags) > 100 or len(metrics) + len(params) + len(tags) > 1000:
            return _error(400, "INVALID_PARAMETER_VALUE", "A batch logging request can contain at most 1000 metrics")
        for i, m in enumerate(metrics):
            if not _NAME.match(m["key"]):
                return _error(400, "INVALID_PARAMETER_VALUE", f"Invalid value for parameter 'metrics[{i}].name'")
        for p in params:
            old = run["params"].get(p["key"])
            if old is not None and old != p["value"]:
                return _error(400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed.")
        for p in params:
            run["params"][p["key"]] = p["value"]
        for t in tags:
            run["tags"][t["key"]] = t["value"]
        for m in metrics:
            value = float(m["value"]) if not isinstance(m["value"], str) else float(m["value"].replace("Infinity", "inf"))
            point = (m["key"], int(m["timestamp"]), int(m.get("step", 0)), value)
            if not any(_same(point, p) for p in run["metrics"]):
                run["metrics"].append(point)
        return httpx.Response(200, json={})

    def _runs_update(self, q: dict[str, Any]) -> httpx.Response:
        info = self.runs[q["run_id"]]["info"]
        for k in ("status", "end_time", "run_name"):
            if k in q:
                info[k] = q[k]
        return httpx.Response(200, json={"run_info": info})

    def _runs_delete_tag(self, q: dict[str, Any]) -> httpx.Response:
        tags = self.runs[q["run_id"]]["tags"]
        if q["key"] not in tags:
            return _error(404, "RESOURCE_DOES_NOT_EXIST", f"No tag with name: {q['key']}")
        del tags[q["key"]]
        return httpx.Response(200, json={})

    def _runs_get(self, q: dict[str, Any]) -> httpx.Response:
        run = self.runs[q["run_id"]]
        keys = sorted({m[0] for m in run["metrics"]})
        return httpx.Response(200, json={"run": {"info": run["info"], "data": {"metrics": [{"key": k} for k in keys]}}})

    def _metrics_get_history(self, q: dict[str, Any]) -> httpx.Response:
        run = self.runs[q["run_id"]]
        points = sorted((p for p in run["metrics"] if p[0] == q["metric_key"]), key=lambda p: (p[1], p[2], p[3]))
        start = int(q.get("page_token") or 0)
        size = int(q.get("max_results") or 25000)
        page = points[start : start + size]
        out: dict[str, Any] = {"metrics": [{"key": p[0], "timestamp": p[1], "step": p[2], "value": p[3]} for p in page]}
        if start + size < len(points):
            out["next_page_token"] = str(start + size)
        return httpx.Response(200, json=out)

    # -- helpers for tests ------------------------------------------------------------------------

    def history(self, run_id: str, key: str) -> list[tuple[float, int]]:
        """(value, step) of ``key`` in the server's order."""
        points = sorted((p for p in self.runs[run_id]["metrics"] if p[0] == key), key=lambda p: (p[1], p[2], p[3]))
        return [(p[3], p[2]) for p in points]

    def only_run(self) -> str:
        assert len(self.runs) == 1, f"expected one remote run, got {len(self.runs)}"
        return next(iter(self.runs))

    def paths(self) -> list[str]:
        return [r.url.path.removeprefix("/api/2.0/") for r in self.requests]


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[:3] == b[:3] and (a[3] == b[3] or (math.isnan(a[3]) and math.isnan(b[3])))
