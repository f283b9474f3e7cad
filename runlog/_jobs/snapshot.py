"""The snapshot of a submitted script's source directory.

Which files: everything under the source directory except what ``.gitignore``
and ``.runlogignore`` files exclude (gitignore semantics through ``pathspec``;
an ignore file applies to its own folder and below; in one folder
``.runlogignore`` patterns come after ``.gitignore`` ones, so ``!pattern`` there
re-includes a git-ignored file), and always ``.git/``, ``__pycache__/``,
``.ipynb_checkpoints/``, the top-level ``outputs/`` (a run's outputs are not its
input) and the runlog store itself when it lies inside the source directory.

The total size is capped (300 MB by default, ``RUNLOG_SNAPSHOT_MAX_MB`` to change
it) so that submitting from a folder full of data fails at once with a clear
error instead of copying gigabytes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import SnapshotTooLargeError

__all__ = ["IGNORE_FILES", "Snapshot", "scan", "snapshot_limit"]

IGNORE_FILES = (".gitignore", ".runlogignore")
DEFAULT_LIMIT_MB = 300
ENV_LIMIT = "RUNLOG_SNAPSHOT_MAX_MB"
_ALWAYS_IGNORED_DIRS = {".git", "__pycache__", ".ipynb_checkpoints"}


@dataclass
class Snapshot:
    """The files of a source directory that a run gets, relative posix names -> absolute paths."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    size: int = 0

    def copy_to(self, target: Path) -> None:
        """Copy the files into ``target`` (the run's working copy)."""
        for name, source in self.files.items():
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)


def snapshot_limit() -> int:
    """The size cap in bytes (``RUNLOG_SNAPSHOT_MAX_MB``, default 300 MB)."""
    raw = os.environ.get(ENV_LIMIT)
    if raw:
        try:
            return int(float(raw) * 1024 * 1024)
        except ValueError as exc:
            raise ValueError(f"{ENV_LIMIT} must be a number of megabytes such as 500; got {raw!r}") from exc
    return DEFAULT_LIMIT_MB * 1024 * 1024


def _load_spec(folder: Path) -> Any:
    lines: list[str] = []
    for name in IGNORE_FILES:
        path = folder / name
        if path.is_file():
            try:
                lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
            except OSError:
                continue
    if not lines:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignored(specs: list[tuple[str, Any]], rel: str, is_dir: bool) -> bool:
    """gitignore precedence: the deepest ignore file with a matching pattern decides."""
    for base, spec in reversed(specs):
        sub = rel[len(base) + 1 :] if base else rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            return bool(result.include)
    return False


def scan(source_directory: str | os.PathLike[str], *, exclude: list[Path] | None = None, limit: int | None = None) -> Snapshot:
    """List the files of ``source_directory`` a run gets; raise past the size cap."""
    root = Path(source_directory).absolute()
    if not root.is_dir():
        raise NotADirectoryError(
            f"source_directory={str(source_directory)!r} is not a folder; pass the folder that holds your script"
        )
    limit = snapshot_limit() if limit is None else limit
    excluded = {p.resolve() for p in (exclude or [])}
    snapshot = Snapshot(root)
    sizes: dict[str, int] = {}
    specs: list[tuple[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        rel_dir = folder.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        while specs and specs[-1][0] and not (rel_dir + "/").startswith(specs[-1][0] + "/"):
            specs.pop()
        spec = _load_spec(folder)
        if spec is not None:
            specs.append((rel_dir, spec))
        keep = []
        for d in sorted(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if d in _ALWAYS_IGNORED_DIRS or (not rel_dir and d == "outputs"):
                continue
            if (folder / d).resolve() in excluded or (folder / d).is_symlink():
                continue
            if _ignored(specs, rel, True):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            rel = f"{rel_dir}/{f}" if rel_dir else f
            path = folder / f
            if _ignored(specs, rel, False) or not path.is_file():
                continue
            size = path.stat().st_size
            snapshot.files[rel] = path
            snapshot.size += size
            top = rel.split("/", 1)[0]
            sizes[top] = sizes.get(top, 0) + size
    if snapshot.size > limit:
        biggest = sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)[:5]
        listing = ", ".join(f"{name} ({size / 1e6:.1f} MB)" for name, size in biggest)
        raise SnapshotTooLargeError(
            f"the source directory {root} holds {snapshot.size / 1e6:.1f} MB of files to snapshot, more than the "
            f"limit of {limit / 1e6:.1f} MB. Largest entries: {listing}. Exclude data and checkpoints with a "
            f".runlogignore (or .gitignore) file in the source directory, use a smaller source_directory, or "
            f"raise the limit with {ENV_LIMIT}=<megabytes>",
            size=snapshot.size,
            limit=limit,
        )
    return snapshot
