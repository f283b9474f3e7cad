"""The operating-system processes of a submitted run: is one alive, stop them all.

``runlog submit`` starts a supervisor in its own session, which starts the script's process
groups (one per rank) and records them in ``logs/process_info.json`` of the run; cancelling
signals the supervisor and every group (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from typing import TYPE_CHECKING

from .._model.status import RunStatus
from .._store import layout

if TYPE_CHECKING:
    from .._model.run import Run

__all__ = ["CANCEL_GRACE_SECONDS", "PROCESS_INFO", "pid_alive", "terminate_run_processes"]

_log = logging.getLogger("runlog.submit")

PROCESS_INFO = "logs/process_info.json"
CANCEL_GRACE_SECONDS = 10.0


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie is not running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"
    except OSError:
        return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group whose only members are zombies is gone for our purpose.
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
                return True
        return False
    except OSError:
        return True


def _process_groups(run: Run) -> list[int]:
    try:
        info = json.loads((run.path / layout.FILES_DIR / PROCESS_INFO).read_text(encoding="utf-8"))
        return [int(p["pgid"]) for p in info.get("processes", []) if p.get("pgid")]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def terminate_run_processes(run: Run, grace_seconds: float = CANCEL_GRACE_SECONDS) -> None:
    """Stop a submitted run's supervisor and every process group of its script (SIGTERM, then SIGKILL)."""
    record = run._record
    if record.get("host") not in (None, socket.gethostname()):
        _log.warning("run %s runs on host %s: its processes cannot be stopped from here", run.id, record.get("host"))
        return
    supervisor = int(record.get("supervisor_pid") or 0)
    if run.get_status() in RunStatus.TERMINAL:  # nothing runs any more; cancel() then keeps the status
        run._finished = True
        return
    run._set_status(RunStatus.CANCEL_REQUESTED)
    groups = _process_groups(run)

    def signal_all(sig: int) -> None:
        if supervisor and pid_alive(supervisor):
            try:
                os.kill(supervisor, sig)
            except OSError:
                pass
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
            except OSError:
                pass

    def gone() -> bool:
        return not (supervisor and pid_alive(supervisor)) and not any(_group_alive(g) for g in groups)

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)
        groups = groups or _process_groups(run)
    if not gone():
        _log.warning("run %s: processes still running %.0f s after SIGTERM; sending SIGKILL", run.id, grace_seconds)
        signal_all(signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.05)
    if run.get_status() in RunStatus.TERMINAL:  # the supervisor ended the run (Canceled, with its outputs)
        run._finished = True
    _log.debug("run %s: processes stopped", run.id)
