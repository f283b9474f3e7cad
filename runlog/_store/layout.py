"""Where things live in a runlog store (see ``docs/store-format.md``).

::

    <store>/
      store.json                                   {"format": 3, "name": ...}
      experiments/<experiment>/experiment.json     {"name", "id", "created"}
      experiments/<experiment>/runs/<run_id>/
        run.json                                   the immutable run record
        events/<proc>.metrics.jsonl                metric events of one process
        events/<proc>.points.bin                   its numeric run.log points (32-byte records)
        events/<proc>.meta.jsonl                   status, tags, properties of one process
        events/<proc>.names.jsonl                  format 2 only: a copy of its name definitions (format 3: in the meta file)
        files/                                     the run's file namespace (get_file_names)
          logs/driver_log.txt                      driver log(s), one per process
          outputs/...                              files the run produced
          images/...                               log_image files
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .validation import check_file_name_part

FORMAT_VERSION = 3

STORE_RECORD = "store.json"
EXPERIMENTS_DIR = "experiments"
EXPERIMENT_RECORD = "experiment.json"
RUNS_DIR = "runs"
RUN_RECORD = "run.json"
EVENTS_DIR = "events"
FILES_DIR = "files"
METRICS_SUFFIX = ".metrics.jsonl"
POINTS_SUFFIX = ".points.bin"

# A record of a points file (docs/store-format.md): name id (u32), value type (u32), value
# (f64, or i64 for the other types), step (i64; NO_STEP for none), unix time (f64).
POINT_SIZE = 32
NO_STEP = -(1 << 63)
T_FLOAT, T_INT, T_BOOL, T_NONE = 0, 1, 2, 3
META_SUFFIX = ".meta.jsonl"
# A second copy of the "n" lines of <proc>.metrics.jsonl (its name definitions), so that damage to
# the start of a metrics file does not lose the points of every name it defined.
NAMES_SUFFIX = ".names.jsonl"
LOGS_PREFIX = "logs/"
# Files being written, renamed into place when whole: never a run file. ".artifact.uploading.":
# MLflow's local artifact repository (MLflow clients write a run's artifacts into its files/).
TEMP_FILE_PREFIXES = (".upload-", ".tmp-", ".artifact.uploading.")
DRIVER_LOG = "logs/driver_log.txt"

_SAFE_FILE_CHARS = re.compile(r"[^\w.\-]+")


def experiment_dir(store: Path, experiment: str) -> Path:
    return store / EXPERIMENTS_DIR / experiment


def run_dir(store: Path, experiment: str, run_id: str) -> Path:
    return store / EXPERIMENTS_DIR / experiment / RUNS_DIR / run_id


def find_run_dir(store: Path, run_id: Any) -> Path | None:
    """The folder of the run ``run_id`` (one that has its ``run.json``), or None: one ``stat`` per
    experiment, the id's own experiment (``<experiment>_<time>_<hex>``) first, never a listing of runs."""
    if not (isinstance(run_id, str) and run_id and "/" not in run_id and run_id not in (".", "..")):
        return None
    guess = run_id.rsplit("_", 2)[0]
    try:
        names = [e.name for e in os.scandir(store / EXPERIMENTS_DIR) if e.is_dir()]
    except OSError:
        return None
    for experiment in sorted(names, key=lambda name: (name != guess, name)):
        found = run_dir(store, experiment, run_id)
        if (found / RUN_RECORD).is_file():
            return found
    return None


def safe_file_stem(name: str) -> str:
    """A metric name turned into something usable as a file name."""
    return _SAFE_FILE_CHARS.sub("_", name).strip("._") or "image"


def check_file_name(name: str) -> str:
    """Validate a name in a run's file namespace and return it in posix form.

    Names are relative paths such as ``outputs/model.pkl``; anything that would
    leave the run's folder is refused.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a run file name must be a non-empty relative path such as 'outputs/model.pkl'; got {name!r}")
    posix = name.replace("\\", "/").strip()
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or ".." in parts or not parts:
        raise ValueError(
            f"a run file name must be a relative path inside the run, without '..' or a leading '/'; got {name!r}"
        )
    posix = "/".join(parts)
    check_file_name_part(posix, name)
    return posix


_umask: int | None = None


def current_umask() -> int:
    """The process's umask (read once: Linux tells it in /proc; elsewhere it is set and put back)."""
    global _umask
    if _umask is None:
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                _umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
        except (OSError, StopIteration, ValueError, IndexError):
            _umask = os.umask(0o022)
            os.umask(_umask)
    return _umask


@contextmanager
def temp_file(folder: Path, prefix: str, suffix: str = "") -> Iterator[tuple[int, str]]:
    """A new temporary file in ``folder`` (its descriptor and path), removed if the block raises.

    ``mkstemp`` creates it readable by its owner only; it is given the mode an ordinary new file
    gets (0666 less the umask), so that what is renamed into the store is readable by whoever
    may read the store (a shared store: the other users of its group).
    """
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~current_umask())
        yield fd, tmp
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new entry in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON so that a reader sees the old file or the new one, never half.

    The file is fsynced before the rename and its folder after it: after a power loss the
    record is the old one or the new one, never empty or half-written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with temp_file(path.parent, ".tmp-", ".json") as (fd, tmp):
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    fsync_folder(path.parent)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def iter_file_prefix(path: Path, size: int, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The first ``size`` bytes of a file, in chunks: a file that grows while it is sent (a live
    log) never overruns a Content-Length taken before."""
    with open(path, "rb") as fh:
        left = size
        while left > 0:
            chunk = fh.read(min(left, chunk_size))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
