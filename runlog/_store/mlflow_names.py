"""How MLflow's names map onto the store: the ``runlog:`` tracking URI, experiment names and ids.

Kept apart from :mod:`runlog.mlflow` (the tracking-store plugin) because the workspace and the
supervisor need these mappings without importing MLflow.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from . import layout

__all__ = [
    "DEFAULT_EXPERIMENT",
    "DEFAULT_EXPERIMENT_ID",
    "MLFLOW_STATUS",
    "SCHEME",
    "experiment_folder",
    "experiment_id",
    "experiment_name",
    "script_environment",
    "store_path",
    "tracking_uri",
]

SCHEME = "runlog"
# MLflow's fluent API falls back to experiment id "0" ("Default") when none is set.
DEFAULT_EXPERIMENT = "Default"
DEFAULT_EXPERIMENT_ID = "0"

# runlog status -> MLflow status (MLflow clients, and the search's attributes.status, see either).
MLFLOW_STATUS = {
    "Running": "RUNNING", "Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED",
    "NotStarted": "SCHEDULED", "Queued": "SCHEDULED", "Preparing": "SCHEDULED", "Provisioning": "SCHEDULED",
    "Starting": "SCHEDULED", "CancelRequested": "RUNNING", "Finalizing": "RUNNING",
}  # fmt: skip

_FOLDER_NAME = re.compile(r"^[a-zA-Z0-9][\w\-]{0,254}$")


def tracking_uri(store: str | os.PathLike[str]) -> str:
    """The one canonical ``runlog:///abs/path`` URI of a store (MLflow caches a store per URI string)."""
    path = Path(store).expanduser().absolute().as_posix()
    return f"{SCHEME}://" + quote(path, safe="/:@-._~!$&'()*+,;=")


def store_path(uri: str) -> Path | None:
    """The store folder a ``runlog:`` URI names; None for ``runlog:`` alone (the configured store).

    ``runlog:///abs/path`` and ``runlog:/abs/path`` name ``/abs/path``; ``runlog:relative`` is
    relative to the current folder. A host part (``runlog://host/path``) is refused: the store is
    local.
    """
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME:
        raise ValueError(f"not a runlog tracking URI: {uri!r}; use runlog:///absolute/path/to/store")
    if parsed.netloc:
        raise ValueError(
            f"the runlog tracking URI {uri!r} names a host ({parsed.netloc!r}); a runlog store is a local folder: "
            f"use runlog:///absolute/path (three slashes)"
        )
    path = unquote(parsed.path)
    if not path:
        return None
    return Path(path).expanduser().absolute()


def experiment_folder(name: str) -> str:
    """The store folder of MLflow experiment ``name``.

    A name that is a valid runlog experiment name is its own folder; any other (MLflow allows
    spaces and ``/``) becomes a valid name plus a short hash of the original, so that two
    different names never share a folder. The original name is kept in ``experiment.json``.
    """
    if _FOLDER_NAME.fullmatch(name):
        return name
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    # ASCII only: run ids start with the folder, and MLflow wants them to start with [a-zA-Z0-9].
    stem = re.sub(r"[^A-Za-z0-9_\-]+", "-", name).strip("-_")[:240] or "experiment"
    if not re.match(r"[A-Za-z0-9]", stem):
        stem = "x" + stem
    return f"{stem}-{digest}"


def experiment_id(folder: str) -> str:
    """The experiment id MLflow clients see: ``"0"`` for ``Default``, else runlog's ``Experiment.id``."""
    if folder == DEFAULT_EXPERIMENT:
        return DEFAULT_EXPERIMENT_ID
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"runlog:{folder}"))


def experiment_name(store: Path, folder: str) -> str:
    """The name MLflow clients know experiment ``folder`` by (``experiment.json``'s ``mlflow_name``)."""
    try:
        record = layout.read_json(layout.experiment_dir(store, folder) / layout.EXPERIMENT_RECORD)
    except (OSError, ValueError):
        return folder
    name = record.get("mlflow_name") if isinstance(record, dict) else None
    return name if isinstance(name, str) and name else folder


def script_environment(
    store: str | os.PathLike[str], folder: str, run_id: str, upload_uri: str | None = None
) -> dict[str, str]:
    """MLflow's own variables for a script started for run ``run_id``: its MLflow clients log into it.

    ``MLFLOW_EXPERIMENT_ID`` too: a submitter that called ``mlflow.set_experiment`` exported its own,
    which MLflow would find at odds with the name. The upload target moves to ``RUNLOG_TRACKING_URI``
    (``MLFLOW_TRACKING_URI`` no longer names it).
    """
    env = {
        "MLFLOW_TRACKING_URI": tracking_uri(store),
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_EXPERIMENT_NAME": experiment_name(Path(store), folder),
        "MLFLOW_EXPERIMENT_ID": experiment_id(folder),
    }
    if upload_uri:
        env["RUNLOG_TRACKING_URI"] = upload_uri
    return env
