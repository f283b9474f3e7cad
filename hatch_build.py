"""Hatchling build hook: compiles ``runlog/_store/_packer.c`` (a tagged record's values packed in C) when a
C compiler and Python's headers are there; without them (or when it fails) the package is pure Python and
``runlog._store.records`` uses its Python packer. Nothing else is compiled."""

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

SOURCE = Path("runlog/_store/_packer.c")


def compile_packer(root: Path, out_dir: Path) -> Path:
    """The compiled module in ``out_dir`` (raises when it cannot be built)."""
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").exists():
        raise RuntimeError(f"no Python headers ({include}/Python.h)")
    # LDSHARED: the installing Python's compiler with its flags for an extension module ("gcc -shared" on
    # Linux, "-bundle -undefined dynamic_lookup" on macOS).
    link = shlex.split(sysconfig.get_config_var("LDSHARED") or f"{sysconfig.get_config_var('CC') or 'cc'} -shared")
    target = out_dir / ("_packer" + importlib.machinery.EXTENSION_SUFFIXES[0])
    target.unlink(missing_ok=True)  # (a failed build must not leave an older module in place)
    command = [*link, "-O2", "-fPIC", f"-I{include}", str(root / SOURCE), "-o", str(target)]
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
        try:
            if version == "editable":  # next to the source, where the editable install imports it from
                compile_packer(root, root / SOURCE.parent)
                return
            self._scratch = tempfile.mkdtemp(prefix="runlog-build-")
            built = compile_packer(root, Path(self._scratch))
        except Exception as exc:  # (no compiler, no headers): pure Python, as documented
            self.app.display_warning(f"runlog: the C packer was not built ({exc}); the Python one is used")
            return
        build_data["force_include"][str(built)] = f"{SOURCE.parent}/{built.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
