"""Hatchling build hook: compiles runlog's two C modules when a C compiler and Python's headers are there:
``runlog/_store/_packer.c`` (a tagged record's values packed in C) and ``runlog/_capture/_hot.c``
(``RunHandler.handle``'s usual record in C). Without them (or where one fails) that part is pure Python:
``runlog._store.records`` uses its Python packer, ``RunHandler`` its Python ``handle``. Nothing else is
compiled."""

from __future__ import annotations

import importlib.machinery
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCES = (Path("runlog/_store/_packer.c"), Path("runlog/_capture/_hot.c"))


def compile_module(root: Path, source: Path, out_dir: Path) -> Path:
    """The module compiled from ``source`` (relative to ``root``) in ``out_dir`` (raises when it cannot be built)."""
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").exists():
        raise RuntimeError(f"no Python headers ({include}/Python.h)")
    # LDSHARED: the installing Python's compiler with its flags for an extension module ("gcc -shared" on
    # Linux, "-bundle -undefined dynamic_lookup" on macOS).
    link = shlex.split(sysconfig.get_config_var("LDSHARED") or f"{sysconfig.get_config_var('CC') or 'cc'} -shared")
    target = out_dir / (source.stem + importlib.machinery.EXTENSION_SUFFIXES[0])
    target.unlink(missing_ok=True)  # (a failed build must not leave an older module in place)
    command = [*link, "-O2", "-fPIC", f"-I{include}", str(root / source), "-o", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return target


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or sys.platform == "win32":
            return
        root = Path(self.root)
        for source in SOURCES:
            try:
                if version == "editable":  # next to the source, where the editable install imports it from
                    compile_module(root, source, root / source.parent)
                    continue
                if not getattr(self, "_scratch", None):
                    self._scratch = tempfile.mkdtemp(prefix="runlog-build-")
                built = compile_module(root, source, Path(self._scratch))
            except Exception as exc:  # (no compiler, no headers): pure Python, as documented
                self.app.display_warning(f"runlog: {source} was not compiled ({exc}); its Python counterpart is used")
                continue
            build_data["force_include"][str(built)] = f"{source.parent}/{built.name}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
