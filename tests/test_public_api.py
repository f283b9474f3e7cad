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
