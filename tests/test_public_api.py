"""The public surface: __all__ matches what is exported, import stays cheap, diagnostics are silent."""

from __future__ import annotations

import subprocess
import sys

import runlog


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and lists every public name the package exposes (and only those)."""
    assert runlog.__all__ == sorted(runlog.__all__, key=lambda n: (n.startswith("_"), n))
    public = {n for n in vars(runlog) if not n.startswith("_") and not isinstance(getattr(runlog, n), type(sys))}
    assert public - {"annotations"} == set(runlog.__all__) - {"__version__"}


def test_import_loads_only_what_it_must() -> None:
    """`import runlog` does not import heavy or optional libraries."""
    code = "import sys, runlog; print(sorted(m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(eval(out))
    for heavy in ("numpy", "matplotlib", "structlog", "opentelemetry", "rich", "httpx", "tenacity", "starlette", "mlflow"):
        assert heavy not in loaded, heavy


def test_errors_subclass_runlog_error_and_a_builtin() -> None:
    """Every exported error is a RunlogError and also a matching built-in exception."""
    errors = [getattr(runlog, n) for n in runlog.__all__ if n.endswith(("Error", "NotFound", "Value", "Name", "Transition"))]
    assert errors
    for cls in errors:
        assert issubclass(cls, runlog.RunlogError)
        if cls is not runlog.RunlogError:
            assert any(b in cls.__mro__ for b in (ValueError, TypeError, LookupError, RuntimeError, OSError)), cls


def test_the_package_is_typed() -> None:
    """py.typed ships with the package."""
    from importlib.resources import files

    assert files("runlog").joinpath("py.typed").is_file()


# The public surface as the README and docs name it: pinned so that a restructuring (issue 14)
# cannot move or drop a name users import.
PUBLIC_ALL = [
    "ActivityFailedError", "DamagedRecordError", "Environment", "Experiment", "ExperimentNotFound",
    "InvalidArgumentError", "InvalidExperimentName", "InvalidMetricValue", "InvalidStatusTransition",
    "MetricPoint", "MpiConfiguration", "PyTorchConfiguration", "Run", "RunConfiguration", "RunFileNotFound",
    "RunFinishedError", "RunHandler", "RunNotFound", "RunStatus", "RunlogError", "ScriptRunConfig",
    "SnapshotTooLargeError", "StoreError", "TensorflowConfiguration", "UnsupportedConfigurationError",
    "Workspace", "get_rank_metrics", "metrics", "__version__",
]  # fmt: skip

# Dotted paths the README and docs tell users to import or name in configuration (dictConfig's
# "()" / "class", MLflow's entry point), with the object each must be.
DOCUMENTED_PATHS = {
    "runlog.RunHandler": ("runlog.stdlib", "RunHandler"),
    "runlog.stdlib.RunHandler": ("runlog.stdlib", "RunHandler"),
    "runlog.stdlib.RunJsonFormatter": ("runlog._capture.jsonformat", "RunJsonFormatter"),
    "runlog.structlog.RunProcessor": ("runlog.structlog", "RunProcessor"),
    "runlog.otel.RunLogExporter": ("runlog.otel", "RunLogExporter"),
    "runlog.otel.RunMetricExporter": ("runlog.otel", "RunMetricExporter"),
    "runlog.widgets.RunDetails": ("runlog.widgets", "RunDetails"),
    "runlog.ui.create_app": ("runlog.ui", "create_app"),
    "runlog.Workspace": ("runlog._model.workspace", "Workspace"),
    "runlog.Experiment": ("runlog._model.workspace", "Experiment"),
    "runlog.Run": ("runlog._model.run", "Run"),
    "runlog.ScriptRunConfig": ("runlog._jobs.submit", "ScriptRunConfig"),
    "runlog.get_rank_metrics": ("runlog._jobs.distributed", "get_rank_metrics"),
}


def _resolve(path: str) -> object:
    import importlib

    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def test_all_is_pinned() -> None:
    """runlog.__all__ is exactly the documented public names (a moved or dropped name fails here)."""
    assert sorted(runlog.__all__) == sorted(PUBLIC_ALL)
    for name in runlog.__all__:
        assert getattr(runlog, name) is not None


def test_documented_import_paths_are_the_same_objects() -> None:
    """Every path the docs name imports, and is the very object its defining module holds."""
    import importlib

    for path, (module, attr) in DOCUMENTED_PATHS.items():
        assert _resolve(path) is getattr(importlib.import_module(module), attr), path


def test_every_runlog_path_in_the_docs_resolves() -> None:
    """Each `runlog.<public module>.<Name>` written in README.md or docs/*.md imports as written."""
    import pkgutil
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    public = {m.name for m in pkgutil.iter_modules(runlog.__path__) if not m.name.startswith("_")}
    text = "\n".join(p.read_text(encoding="utf-8") for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    found = set(re.findall(r"\brunlog\.((?:[a-z]\w*)(?:\.[A-Za-z]\w*)+)", text))
    checked = [p for p in found if p.split(".")[0] in public]
    assert {"otel.RunLogExporter", "structlog.RunProcessor"} <= set(checked)
    for path in checked:
        _resolve("runlog." + path)


def test_entry_points_resolve() -> None:
    """The console script and the MLflow tracking-store entry point in pyproject.toml import."""
    from pathlib import Path

    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    targets = list(project["scripts"].values())
    for group in project["entry-points"].values():
        targets.extend(group.values())
    assert "runlog.cli:main" in targets and "runlog._mlflow.store:RunlogTrackingStore" in targets
    for target in targets:
        module, _, attr = target.partition(":")
        assert callable(_resolve(f"{module}.{attr}")), target
