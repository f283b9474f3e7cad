"""The OpenAPI 3.1 description of the viewer's JSON API (served at ``/api/openapi.json``).

Written out by hand so that it documents shapes, not only paths; a test checks
that it lists exactly the routes the app serves.
"""

from __future__ import annotations

from typing import Any

from .. import __version__

__all__ = ["openapi_schema"]


def _param(name: str, where: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "description": description, "required": required or where == "path", "schema": schema}


_RUN_ID = _param("run_id", "path", "The run id, e.g. `train_1717000000_1a2b3c4d`.", {"type": "string"})
_STR = {"type": "string"}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_ANY: dict[str, Any] = {}


def _ok(ref: str, description: str = "OK") -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}}


_ERRORS = {
    "400": {"description": "A bad parameter (the message says which and what to send).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "401": {"description": "The server runs with a token and this request did not carry it.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "404": {"description": "No such run, metric or file.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {"code": _STR, "message": _STR}, "required": ["code", "message"]}},
    },
    "Value": {
        "description": "A metric value as logged: number, string, bool or null; NaN and infinities as the strings 'NaN', 'Infinity', '-Infinity'.",
        "type": ["number", "string", "boolean", "null"],
    },
    "MetricSummary": {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["s", "l"], "description": "s: run.log, l: run.log_list"},
            "count": _INT,
            "last": {"$ref": "#/components/schemas/Value"},
            "min": {"type": ["number", "null"], "description": "Smallest finite number (null when none)."},
            "max": {"type": ["number", "null"]},
        },
    },
    "RunRow": {
        "type": "object",
        "properties": {
            "id": _STR,
            "experiment": _STR,
            "display_name": _STR,
            "status": _STR,
            "parent_id": {"type": ["string", "null"]},
            "run_type": _STR,
            "created": _NUM,
            "start_time": {"type": ["number", "null"], "description": "Unix seconds of the first Running status."},
            "end_time": {"type": ["number", "null"]},
            "duration": {"type": ["number", "null"], "description": "Seconds; up to now for a running run."},
            "tags": {"type": "object", "additionalProperties": _STR},
            "params": {"type": "object", "additionalProperties": _STR, "description": "The run's properties (MLflow's params)."},
            "metrics": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/MetricSummary"}},
        },
    },
    "Runs": {
        "type": "object",
        "properties": {
            "runs": {"type": "array", "items": {"$ref": "#/components/schemas/RunRow"}},
            "metric_names": {"type": "array", "items": _STR, "description": "Every scalar/list metric name of the listed runs."},
            "next_page_token": {"type": ["string", "null"], "description": "The token of the next page (null on the last)."},
            "total": {"type": "integer", "description": "How many runs match (every page)."},
        },
    },
    "Experiments": {
        "type": "object",
        "properties": {"experiments": {"type": "array", "items": {"type": "object", "properties": {"name": _STR, "runs": _INT}}}},
    },
    "File": {"type": "object", "properties": {"name": _STR, "size": _INT, "mtime": _NUM, "image": {"type": "boolean"}}},
    "Files": {"type": "object", "properties": {"run_id": _STR, "files": {"type": "array", "items": {"$ref": "#/components/schemas/File"}}}},
    "Run": {
        "allOf": [
            {"$ref": "#/components/schemas/RunRow"},
            {
                "type": "object",
                "properties": {
                    "record": {"type": "object", "description": "run.json: host, pid, user, argv, ..."},
                    "properties": {"type": "object", "additionalProperties": _STR},
                    "description": {"type": ["string", "null"]},
                    "error": {"description": "The error details of a Failed run, else null."},
                    "metrics_list": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": _STR,
                                "kind": {"type": "string", "enum": ["s", "l", "table", "image"]},
                                "count": _INT,
                                "description": {"type": ["string", "null"]},
                                "last": {"$ref": "#/components/schemas/Value"},
                                "min": {"type": ["number", "null"]},
                                "max": {"type": ["number", "null"]},
                                "columns": {"type": "array", "items": _STR, "description": "Tables only."},
                            },
                        },
                    },
                    "images": {"type": "array", "items": {"type": "object", "properties": {"name": _STR, "file": _STR, "time": _NUM, "step": {"type": ["integer", "null"], "description": "run.log_image(step=...); null when logged without one."}}}},
                    "files": {"type": "array", "items": {"$ref": "#/components/schemas/File"}},
                    "logs": {"type": "array", "items": _STR},
                    "log_ranks": {"type": "array", "description": "Each rank's driver log of a multi-process run (`[]` otherwise).", "items": {"type": "object", "properties": {"rank": {"type": "integer"}, "name": _STR}}},
                    "live": {"type": "boolean", "description": "True until the run is Completed, Failed or Canceled."},
                    "children": {
                        "type": "array",
                        "description": "Child runs, oldest first.",
                        "items": {"type": "object", "properties": {"id": _STR, "display_name": _STR, "status": _STR, "created": _NUM}},
                    },
                },
            },
        ]
    },
    "Series": {
        "type": "object",
        "properties": {
            "run_id": _STR,
            "name": _STR,
            "x_axis": {"type": "string", "enum": ["step", "time", "relative"]},
            "total": {"type": "integer", "description": "Points logged in all."},
            "in_range": {"type": "integer", "description": "Points between xmin and xmax."},
            "downsampled": {"type": "boolean"},
            "x": {"type": "array", "items": _NUM},
            "y": {"type": "array", "items": {"type": ["number", "null"]}, "description": "null for a non-number, NaN or infinite value."},
            "ranks": {"type": "array", "items": {"type": "integer"}, "description": "The ranks that logged the name (a multi-process run); [] when no process recorded a rank."},
            "rank": {"type": ["integer", "null"], "description": "The rank shown; null: every process's values (a single-process run, or rank=merged)."},
        },
    },
    "Table": {
        "type": "object",
        "properties": {
            "run_id": _STR,
            "name": _STR,
            "columns": {"type": "array", "items": _STR},
            "rows": _INT,
            "data": {"type": "object", "additionalProperties": {"type": "array", "items": {"$ref": "#/components/schemas/Value"}}},
        },
    },
    "LogChunk": {
        "type": "object",
        "properties": {
            "run_id": _STR,
            "name": _STR,
            "offset": {"type": "integer", "description": "Byte offset of the first line in text."},
            "next_offset": {"type": "integer", "description": "Pass as offset= to get what comes next."},
            "size": {"type": "integer", "description": "The file's size when read."},
            "reset": {"type": "boolean", "description": "The file shrank since offset: start again."},
            "text": {"type": "string", "description": "Whole lines only (UTF-8, bad bytes replaced)."},
        },
    },
    "LogNames": {
        "type": "object",
        "properties": {
            "run_id": _STR,
            "logs": {"type": "array", "items": _STR},
            "ranks": {"type": "array", "description": "Each rank's driver log (a multi-process run), by rank.", "items": {"type": "object", "properties": {"rank": {"type": "integer"}, "name": _STR}}},
        },
    },
    "RankLogs": {
        "type": "object",
        "description": "rank=all: every rank's driver log interleaved by the time each line starts with.",
        "properties": {
            "run_id": _STR,
            "rank": {"type": "string", "enum": ["all"]},
            "logs": {"type": "array", "items": {"type": "object", "description": "Each rank's part: rank, name, offset, next_offset, size, reset."}},
            "next_offsets": {"type": "string", "description": "RANK:OFFSET pairs to pass as offsets= to follow."},
            "reset": {"type": "boolean"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"rank": {"type": "integer"}, "text": _STR}}},
            "text": {"type": "string", "description": "The lines, each prefixed [rank N]."},
        },
    },
}


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI document of the viewer's API."""
    paths: dict[str, Any] = {
        "/api/experiments": {"get": {"summary": "Experiments and their run counts", "operationId": "experiments", "responses": {**_ok("Experiments"), "401": _ERRORS["401"]}}},
        "/api/runs": {
            "get": {
                "summary": "Every run (children too) with last/min/max of each scalar metric, newest first",
                "operationId": "runs",
                "parameters": [
                    _param("experiment", "query", "Only runs of this experiment.", _STR),
                    _param("status", "query", "Only runs with this status, e.g. Running.", _STR),
                    _param("tag", "query", "Only runs with this tag key, or `key=value`.", _STR),
                    _param("q", "query", "Substring of the run id, display name or experiment (case-insensitive).", _STR),
                    _param("filter", "query", "MLflow's search syntax, e.g. `metrics.val_acc > 0.9 and params.lr = '0.01'` (`metrics.`, `params.`/`properties.`, `tags.`, `attributes.`; `=`, `!=`, `<`, `>`, `LIKE`, `ILIKE`, `IN`, `and`); plain words search run ids, names and experiments. A filter that does not parse is a 400 saying where.", _STR),
                    {**_param("order_by", "query", "Order, repeatable: `metrics.val_acc DESC`, `attributes.start_time`, `params.lr ASC` (default: newest first).", {"type": "array", "items": {"type": "string"}}), "style": "form", "explode": True},
                    _param("max_results", "query", "A page of at most this many runs (default 100, at most 1,000: never the whole store); the answer's `next_page_token` fetches the next. A page token `base64({\"offset\": n})` starts at the n-th run (MLflow's own tokens).", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
                    _param("page_token", "query", "The `next_page_token` of the previous page.", _STR),
                ],
                "responses": {**_ok("Runs"), "400": _ERRORS["400"], "401": _ERRORS["401"]},
            }
        },
        "/api/runs/{run_id}": {"get": {"summary": "One run: details, metrics, images, files, logs", "operationId": "run", "parameters": [_RUN_ID], "responses": {**_ok("Run"), **_ERRORS}}},
        "/api/runs/{run_id}/series": {
            "get": {
                "summary": "A scalar or list metric for a chart, min/max-downsampled",
                "operationId": "series",
                "parameters": [
                    _RUN_ID,
                    _param("name", "query", "The metric name.", _STR, required=True),
                    _param("x", "query", "The x axis: `step` (the step given to run.log, else the index), `time` (unix seconds) or `relative` (seconds since the run started).", {"type": "string", "enum": ["step", "time", "relative"], "default": "step"}),
                    _param("points", "query", "About how many points to return (4..100000); each bucket keeps its min and max.", {"type": "integer", "default": 2000}),
                    _param("xmin", "query", "Only points with x >= xmin (zoom).", _NUM),
                    _param("xmax", "query", "Only points with x <= xmax (zoom).", _NUM),
                    _param("rank", "query", "A multi-process run's rank (`0`, `1`, ...) or `merged` (every rank's values by time). Omitted: a name several ranks logged is the lowest rank's (rank 0's), as run.get_metrics().", _STR),
                ],
                "responses": {**_ok("Series"), **_ERRORS},
            }
        },
        "/api/runs/{run_id}/table": {
            "get": {
                "summary": "A row/table metric (log_row, log_table) as columns",
                "operationId": "table",
                "parameters": [_RUN_ID, _param("name", "query", "The metric name.", _STR, required=True)],
                "responses": {**_ok("Table"), **_ERRORS},
            }
        },
        "/api/runs/{run_id}/files": {"get": {"summary": "The run's files", "operationId": "files", "parameters": [_RUN_ID], "responses": {**_ok("Files"), **_ERRORS}}},
        "/api/runs/{run_id}/files/{name}": {
            "get": {
                "summary": "One file of the run (images and text inline, anything else as a download)",
                "operationId": "file",
                "parameters": [
                    _RUN_ID,
                    _param("name", "path", "The file name as listed, e.g. `outputs/model.txt` (slashes allowed). Names outside the run are refused.", _STR),
                    _param("download", "query", "`1` to get it as an attachment.", _STR),
                ],
                "responses": {"200": {"description": "The file's bytes.", "content": {"application/octet-stream": {}}}, **_ERRORS},
            }
        },
        "/api/runs/{run_id}/logs": {
            "get": {
                "summary": "Without name: the run's log files. With name: whole lines from a byte offset (poll to follow)",
                "operationId": "logs",
                "parameters": [
                    _RUN_ID,
                    _param("name", "query", "A log file, e.g. `logs/driver_log.txt`.", _STR),
                    _param("offset", "query", "Start here (next_offset of the previous answer); omitted: the last max_bytes.", _INT),
                    _param("before", "query", "Instead of offset: the whole lines that end at this byte (the offset of the first line shown), to page back.", _INT),
                    _param("max_bytes", "query", "At most this many bytes (1 KiB..4 MiB; per rank with rank=all).", {"type": "integer", "default": 262144}),
                    _param("rank", "query", "Instead of name: `N` for rank N's driver log (a LogChunk), `all` for every rank's interleaved by time (RankLogs).", _STR),
                    _param("offsets", "query", "With rank=all: next_offsets of the previous answer (RANK:OFFSET,...), to follow.", _STR),
                ],
                "responses": {
                    "200": {"description": "LogNames without name or rank, LogChunk with name or rank=N, RankLogs with rank=all.", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/LogNames"}, {"$ref": "#/components/schemas/LogChunk"}, {"$ref": "#/components/schemas/RankLogs"}]}}}},
                    **_ERRORS,
                },
            }
        },
        "/api/runs/{run_id}/download": {
            "get": {
                "summary": "Every file of the run as a zip",
                "operationId": "download",
                "parameters": [_RUN_ID],
                "responses": {"200": {"description": "A zip of the run's files (and nothing else), streamed while it is made (chunked).", "content": {"application/zip": {}}}, **_ERRORS},
            }
        },
        "/api/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runlog viewer API",
            "version": __version__,
            "description": "Read-only JSON API of `runlog ui` over a local runlog store. See docs/viewer.md.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Only when the server was started with a token."},
                "query": {"type": "apiKey", "in": "query", "name": "token"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "runlog_token"},
            },
        },
        "security": [{}, {"bearer": []}, {"query": []}, {"cookie": []}],
    }
