"""The import contracts in pyproject.toml hold (import-linter): the store at the bottom, CLI and viewer at the top."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    """`lint-imports` finds every contract kept (a lower layer importing an upper one breaks this test)."""
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_no_module_over_700_lines() -> None:
    """One concept per module (issue 14): no module of the package over 700 lines (static files aside)."""
    sizes = {
        p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8").count("\n")
        for p in (REPO / "runlog").rglob("*.py")
    }
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > 700} == {}


def test_no_import_circle_counting_imports_inside_functions() -> None:
    """The measure of issue 14: every import of a runlog module (module level or inside a function, not under
    TYPE_CHECKING), and no strongly connected group of more than one module."""
    import ast

    modules = {}
    # (a compiled module is a module too: its stub stands for it, runlog._store._packer)
    stubs = [p for p in (REPO / "runlog").rglob("*.pyi") if not p.with_suffix(".py").exists()]
    for path in [*(REPO / "runlog").rglob("*.py"), *stubs]:
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = (path, parts[-1] == "__init__")
    edges: dict[str, set[str]] = {m: set() for m in modules}

    def target(current: str, is_pkg: bool, node: ast.ImportFrom, alias: str) -> str:
        base = current if is_pkg else current.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            base = base.rsplit(".", 1)[0]
        mod = (base + ("." + node.module if node.module else "")) if node.level else (node.module or "")
        full = f"{mod}.{alias}"
        return full if full in modules else mod

    for name, (path, is_pkg) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            found = []
            if isinstance(node, ast.ImportFrom):
                found = [target(name, is_pkg, node, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            for t in found:
                while t and t not in modules:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t != name and t != "runlog":
                    edges[name].add(t)

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reach = {m: reaches(m) for m in modules}
    circles = sorted(m for m in modules if any(m in reach[o] for o in reach[m]))
    assert circles == []


# Third-party packages that are optional extras or slow to import: an import of one inside a function defers it.
DEFERRED_PACKAGES = {
    "mlflow",
    "starlette",
    "uvicorn",
    "matplotlib",
    "numpy",
    "PIL",
    "rich",
    "httpx",
    "psutil",
    "pynvml",
    "ipywidgets",
    "IPython",
    "pathspec",
    "pythonjsonlogger",
    "opentelemetry",
    "google",
    "click",
}


def test_imports_inside_functions_only_defer_a_costly_or_optional_dependency() -> None:
    """Issue 14: an import inside a function defers an optional or costly package, or says on its line (or the
    line above) why it is deferred (``# deferred: ...``); otherwise it belongs at the top of the module."""
    import ast

    unexplained = []
    for path in sorted((REPO / "runlog").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for func in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if node.__class__ is ast.ImportFrom and node.level == 0 and names[0].split(".")[0] in DEFERRED_PACKAGES:
                    continue
                if isinstance(node, ast.Import) and all(n.split(".")[0] in DEFERRED_PACKAGES for n in names):
                    continue
                said = " ".join(lines[max(node.lineno - 3, 0) : node.end_lineno or node.lineno])
                if "deferred:" not in said:
                    unexplained.append(f"{path.relative_to(REPO)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert unexplained == []


# The folders of tests/ and the layers they test (docs/architecture.md, "Tests").
TEST_FOLDERS = {
    "store": "runlog/_store",
    "model": "runlog/_model",
    "capture": "runlog/_capture",
    "jobs": "runlog/_jobs",
    "upload": "runlog/_upload",
    "producers": "runlog/stdlib.py",
    "ui": "runlog/ui",
    "cli": "runlog/cli",
}
# Package-wide tests that belong to no one layer.
ROOT_TESTS = {
    "test_architecture.py", "test_public_api.py", "test_wiring.py", "test_diagnostics.py", "test_examples.py", "test_errors.py",
}


def test_tests_mirror_the_layers() -> None:
    """Issue 14: tests sit in a folder per layer, each folder's layer exists, and basenames are unique (pytest
    imports test modules by basename)."""
    tests = REPO / "tests"
    assert {p.name for p in tests.glob("test_*.py")} == ROOT_TESTS
    folders = {p.name for p in tests.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    assert folders == set(TEST_FOLDERS)
    assert all((REPO / layer).exists() for layer in TEST_FOLDERS.values())
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted(names) == sorted(set(names))


# Where the tests of each part of the package live (tests/<folder>/; "" is tests/ itself).
MODULE_FOLDERS = {
    "_store": "store",
    "_model": "model",
    "_capture": "capture",
    "_jobs": "jobs",
    "_upload": "upload",
    "ui": "ui",
    "widgets": "ui",
    "cli": "cli",
    "stdlib": "producers",
    "structlog": "producers",
    "otel": "producers",
    "mlflow": "producers",
    "_otel": "producers",
    "_mlflow": "producers",
    "_errors": "",
    "_diagnostics": "",
    "_wiring": "",
    "__init__": "",
}
# A package's __init__ of fewer lines than this only re-exports (its names are tested where they are defined).
REEXPORT_LINES = 30


def expected_test_files(path: Path) -> tuple[str, set[str]] | None:
    """The folder and the accepted names of the test module of ``runlog/...`` module ``path``, or None when a
    module needs none (``__main__``, an ``__init__`` that only re-exports)."""
    parts = path.relative_to(REPO / "runlog").with_suffix("").parts
    top = parts[0]
    if parts[-1] == "__main__":
        return None
    if parts == ("__init__",):
        return "", {"test_public_api.py"}
    folder = MODULE_FOLDERS[top]
    pkg = top.lstrip("_")
    if len(parts) == 1:
        return folder, {f"test_{pkg}.py"}
    if parts[-1] == "__init__":
        if path.read_text(encoding="utf-8").count("\n") < REEXPORT_LINES:
            return None
        return folder, {f"test_{pkg}.py"}
    mod = parts[-1].lstrip("_")
    return folder, {f"test_{mod}.py", f"test_{pkg}_{mod}.py"}


def imported_modules(test: Path) -> set[str]:
    """Every ``runlog`` module a test file imports (``from runlog.x import y`` counts ``runlog.x`` and ``runlog.x.y``)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(test.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_every_module_has_a_test_module_named_after_it() -> None:
    """Issue 14: "a test module per module, named after it": ``runlog/_store/writer.py`` is tested in
    ``tests/store/test_writer.py`` or ``tests/store/test_store_writer.py``, and that file imports it."""
    missing, unimported = [], []
    for path in sorted((REPO / "runlog").rglob("*.py")):
        expected = expected_test_files(path)
        if expected is None:
            continue
        folder, names = expected
        dotted = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        found = [REPO / "tests" / folder / n for n in sorted(names) if (REPO / "tests" / folder / n).exists()]
        if not found:
            missing.append(
                f"{path.relative_to(REPO)} -> tests/{folder + '/' if folder else ''}{' or '.join(sorted(names))}"
            )
        elif not any(dotted in imported_modules(t) for t in found):
            unimported.append(f"{found[0].relative_to(REPO)} does not import {dotted}")
    assert missing == []
    assert unimported == []
