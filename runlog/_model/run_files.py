"""A run's files: uploads into the run, downloads out of it, and ``./outputs`` kept at the end
(the file half of :class:`runlog.Run`)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import IO

from .._errors import RunFileNotFound, did_you_mean
from .._store import RunReader, layout
from .._store.writer import RunWriter

__all__ = ["RunFiles"]

_log = logging.getLogger("runlog.run")


class RunFiles:
    """``upload_file``, ``upload_folder``, ``get_file_names``, ``download_file(s)``, ``get_all_logs``."""

    id: str
    _dir: Path
    _reader: RunReader
    _writer: RunWriter
    _outputs: Path | None

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[bytes] | IO[str], datastore_name: str | None = None) -> str:
        """Copy a file (a path or an open stream) into the run as ``name``; returns the stored name."""
        return self._writer.add_file(name, path_or_stream)

    def upload_files(self, names: list[str], paths: list[str], return_artifacts: bool = False, timeout_seconds: float | None = None, datastore_name: str | None = None) -> list[str]:
        if len(names) != len(paths):
            raise ValueError(f"upload_files needs as many names as paths; got {len(names)} names and {len(paths)} paths")
        return [self._writer.add_file(n, p) for n, p in zip(names, paths)]

    def upload_folder(self, name: str, path: str | os.PathLike[str], datastore_name: str | None = None) -> list[str]:
        """Copy every file under folder ``path`` into the run under ``name/``."""
        root = Path(path)
        if not root.is_dir():
            raise NotADirectoryError(f"upload_folder({name!r}, {str(path)!r}): not a folder; use upload_file for one file")
        prefix = layout.check_file_name(name)
        pairs = [(f"{prefix}/{file.relative_to(root).as_posix()}", file) for file in sorted(p for p in root.rglob("*") if p.is_file())]
        for stored_name, _ in pairs:  # every name checked first: a refused one leaves nothing half-copied
            self._writer.check_upload_name(stored_name)
        return [self._writer.add_file(n, file) for n, file in pairs]

    def get_file_names(self) -> list[str]:
        return self._reader.file_names()

    def _file(self, name: str) -> Path:
        path = self._reader.file_path(name)
        if not path.is_file():
            names = self.get_file_names()
            hint = did_you_mean(name, names, f" The run has: {', '.join(names[:10]) or 'no files'}.")
            raise RunFileNotFound(f"run {self.id} has no file {name!r}.{hint}", run_id=self.id, name=name)
        return path

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None, _validate_checksum: bool = False) -> str:
        """Copy run file ``name`` to ``output_file_path`` (a file or a folder; default: the current folder)."""
        source = self._file(name)
        target = Path(output_file_path) if output_file_path is not None else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return str(target)

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | os.PathLike[str] | None = None,
        output_paths: list[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: float | None = None,
    ) -> list[str]:
        """Copy the run's files (those starting with ``prefix``) under ``output_directory``."""
        names = [n for n in self.get_file_names() if prefix is None or n.startswith(prefix)]
        out = Path(output_directory or ".")
        if output_paths is not None and len(output_paths) != len(names):
            raise ValueError(f"output_paths has {len(output_paths)} entries for {len(names)} files")
        written = []
        for i, n in enumerate(names):
            if output_paths is not None:
                target = Path(output_paths[i])
            elif append_prefix or not prefix:
                target = out / n
            else:
                target = out / n[len(prefix) :].lstrip("/")
            written.append(self.download_file(n, target))
        return written

    def get_all_logs(self, destination: str | os.PathLike[str] | None = None) -> list[str]:
        """Download every log file of the run into ``destination``; returns their paths."""
        return self.download_files(prefix=layout.LOGS_PREFIX, output_directory=destination or ".")


    def _collect_outputs(self) -> None:
        outputs = self._outputs
        if outputs is None or not outputs.is_dir():
            return
        for file in sorted(p for p in outputs.rglob("*") if p.is_file()):
            try:
                self._writer.add_file(f"outputs/{file.relative_to(outputs).as_posix()}", file)
            except OSError as exc:
                _log.warning("could not keep output file %s in run %s: %s", file, self.id, exc)
