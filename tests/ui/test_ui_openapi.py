"""runlog.ui.openapi: the OpenAPI 3.1 description of the viewer's JSON API."""

from __future__ import annotations

import json
import re
from typing import Any

from runlog.ui.app import ROUTES
from runlog.ui.openapi import openapi_schema


def test_openapi_schema_lists_every_route(seeded: dict[str, Any]) -> None:
    """/api/openapi.json is OpenAPI 3.1 and documents exactly the API routes the app serves."""
    resp = seeded["http"].get("/api/openapi.json")
    assert resp.status_code == 200, resp.text
    schema = resp.json()
    assert schema["openapi"].startswith("3.1")
    served = {r.path.replace("{name:path}", "{name}") for r in ROUTES if r.path.startswith("/api/")}
    assert set(schema["paths"]) == served
    for path, item in schema["paths"].items():
        for param in item["get"].get("parameters", []):
            if param["in"] == "path":
                assert "{" + param["name"] + "}" in path


def test_every_reference_resolves_and_every_operation_has_an_id_and_answers() -> None:
    schema = openapi_schema()
    text = json.dumps(schema)
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in schema["components"]["schemas"], ref
    operations = [item["get"] for item in schema["paths"].values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) == len(schema["paths"])
    assert all("200" in op["responses"] and op.get("summary") for op in operations)


def test_the_run_routes_document_their_run_id_and_errors() -> None:
    paths = openapi_schema()["paths"]
    for path, item in paths.items():
        names = {p["name"] for p in item["get"].get("parameters", []) if p["in"] == "path"}
        assert names == set(re.findall(r"{(\w+)}", path)), path
        if "{run_id}" in path:
            assert "404" in item["get"]["responses"], path
    series = {p["name"]: p for p in paths["/api/runs/{run_id}/series"]["get"]["parameters"]}
    assert series["name"]["required"] is True and series["name"]["in"] == "query"


def test_each_call_returns_a_fresh_document() -> None:
    first = openapi_schema()
    first["paths"].clear()
    assert openapi_schema()["paths"]
