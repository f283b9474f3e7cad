"""Waiting for a run and streaming its driver log as it grows (from any process).

Everything here reads the store only: the run's status from its meta events and
the log file by tailing it, so ``wait_for_completion`` and ``runlog logs --follow``
work from another process or shell than the one that submitted the run.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from .._errors import ActivityFailedError
from .._model.html import viewer_url
from .._model.run import Run, RunStatus
from .._store import layout
from .distributed import RENDEZVOUS_TIMEOUT, pid_namespace
from .processes import PROCESS_INFO, pid_alive

__all__ = ["LogTail", "follow", "interleave_ranks", "main_log_name", "rank_logs", "wait_for_completion"]

POLL_SECONDS = 0.1


def main_log_name(run: Run) -> str:
    """The log that streaming follows: the one the record names, else the driver log, else rank 0's."""
    name = run._record.get("driver_log")
    if isinstance(name, str) and name:
        return name
    files = layout.FILES_DIR
    for candidate in (layout.DRIVER_LOG, "logs/driver_log_rank_0.txt"):
        if (run.path / files / candidate).exists():
            return candidate
    return layout.DRIVER_LOG


RANK_LOG = re.compile(r"^logs/driver_log_rank_(\d+)\.txt$")
_LINE_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z) ")


def rank_logs(run: Run) -> dict[int, str]:
    """The driver log of each rank of a multi-process run, by rank (empty for a single process).

    The ranks a submitted run will have (its ``process_count``), whether their logs exist yet or
    not, and every ``logs/driver_log_rank_<N>.txt`` already there (ranks started by torchrun).
    """
    found: dict[int, str] = {}
    count = run._record.get("process_count")
    if isinstance(count, int) and count > 1:
        found.update({r: f"logs/driver_log_rank_{r}.txt" for r in range(count)})
    try:
        names = os.listdir(run.path / layout.FILES_DIR / "logs")
    except OSError:
        names = []
    for n in names:
        if m := RANK_LOG.match(f"logs/{n}"):
            found.setdefault(int(m.group(1)), f"logs/{n}")
    return dict(sorted(found.items()))


def rank_prefix(rank: int) -> str:
    """What starts each line of rank ``rank`` in an interleaved view of several ranks' logs."""
    return f"[rank {rank}] "


def interleave_ranks(lines: dict[int, list[str]], carry: dict[int, str] | None = None) -> list[tuple[int, str]]:
    """Several ranks' log lines as one list of ``(rank, line)``, interleaved by the time that starts each
    line (``2026-11-27T14:30:01.004Z ...``, as a submitted run's driver logs have), else by arrival.

    Each rank's lines keep their order; a line without a time goes with the last time its rank showed
    (``carry`` keeps that across calls, for a follower). Without any time, the ranks' lines come rank by rank.
    """
    carry = carry if carry is not None else {}

    def keyed(rank: int, group: list[str]) -> list[tuple[str, int, int, str]]:
        out = []
        for i, line in enumerate(group):
            if m := _LINE_TIME.match(line):
                carry[rank] = m.group(1)
            out.append((carry.get(rank, ""), rank, i, line))
        return out

    merged = heapq.merge(*(keyed(rank, group) for rank, group in sorted(lines.items())))
    return [(rank, line) for _, rank, _, line in merged]


class LogTail:
    """Reads the whole lines appended to a file since the last call (the file may not exist yet)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None
        self._partial = b""

    def read_lines(self, final: bool = False) -> list[str]:
        if self._fh is None:
            try:
                self._fh = open(self.path, "rb")
            except FileNotFoundError:
                return []
        data = self._partial + self._fh.read()
        end = len(data) if final else data.rfind(b"\n") + 1
        self._partial = data[end:]
        text = data[:end].decode("utf-8", errors="replace")
        return text.splitlines()

    def exists(self) -> bool:
        return self._fh is not None or self.path.exists()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


SETTLE_SECONDS = 60.0


class _EndWatch:
    """Decides when a run has ended for a waiter.

    A terminal status is enough, except for a script run whose supervisor still
    runs on this host: a script may end its own run (``run.fail()`` from an
    exception hook) before the supervisor has written the exit code, the rest of
    the log and the outputs, so the waiter also waits (up to a minute) for the
    supervisor to exit. A supervisor that died without ending the run (``kill -9``)
    makes the run Failed instead of a wait forever.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        pid = run._record.get("supervisor_pid")
        here = run._record.get("host") == socket.gethostname()
        self.supervisor = int(pid) if pid and here else 0
        # A run started with start_logging()/Run.get_context() is ended only by the process
        # that created it (at its exit at the latest): when that process is gone (kill -9, OOM
        # killer), nobody will end it. (Child runs are not ended at exit: another process may.)
        owner = run._record.get("pid")
        top_level_local = run.type == "local" and not run._record.get("parent_id")
        self.owner = int(owner) if here and not pid and top_level_local and isinstance(owner, int) else 0
        # A run shared by the ranks of a torchrun job on this host ends when its ranks do: when
        # every rank has died without ending it (all killed), nobody will.
        launched = run.type == "distributed" and run._record.get("launcher") == "torchrun"
        self.ranks = here and not pid and launched
        world = run._record.get("world_size")
        self.world_size = world if isinstance(world, int) else 0
        self.terminal_since: float | None = None

    def supervisor_alive(self) -> bool:
        return bool(self.supervisor) and pid_alive(self.supervisor)

    def ended(self) -> bool:
        alive = self.supervisor_alive()
        if self.run.get_status() in RunStatus.TERMINAL:
            if not alive:
                return True
            self.terminal_since = self.terminal_since or time.monotonic()
            return time.monotonic() - self.terminal_since > SETTLE_SECONDS
        if self.supervisor and not alive and self.run.get_status() not in RunStatus.TERMINAL:
            _mark_lost(self.run)
            return True
        if self.owner and not pid_alive(self.owner):
            _mark_owner_lost(self.run, self.owner)
            return True
        if self.ranks:
            outcome = self.ranks_gone()
            if outcome is not None:
                _end_ranks_gone(self.run, *outcome)
                return True
        return False

    def ranks_gone(self) -> tuple[list[int], list[int]] | None:
        """``(pids that ended cleanly, pids lost)`` once every registered rank of a torchrun job has
        exited (and all have joined, or the time to join is over); else None."""
        state = self.run._state()
        processes = state.extra.get("process") or {}
        host, namespace = socket.gethostname(), pid_namespace()
        for p in processes.values():
            if not isinstance(p, dict) or p.get("host") != host:
                return None  # a rank of another host: its pid means nothing here
            if p.get("pidns") is not None and namespace is not None and p.get("pidns") != namespace:
                return None  # another pid namespace (a container): its pid means nothing here either
        if not processes:
            return None
        created = self.run._record.get("created")
        joining = isinstance(created, (int, float)) and time.time() - created < RENDEZVOUS_TIMEOUT
        if len(processes) < self.world_size and joining:
            return None  # a rank may still be starting
        pids = sorted(int(pid) for pid in processes if str(pid).isdigit())
        if any(pid_alive(pid) for pid in pids):
            return None
        ended = state.extra.get("rank_end") or {}
        clean = {e.get("pid") for e in ended.values() if isinstance(e, dict) and e.get("ok")}
        return [p for p in pids if p in clean], [p for p in pids if p not in clean]


def _end_for_the_lost(run: Run, message: str | None) -> None:
    """End a run whose processes all exited without ending it (nobody else will): Failed with
    code ProcessLost and ``message``, or Completed when ``message`` is None. Nothing when the run
    ended meanwhile (its last process ended it just before it exited, or another waiter did)."""
    fresh = Run(run.experiment, run.id)
    if fresh.get_status() in RunStatus.TERMINAL:
        return
    try:
        if message is None:
            fresh.complete()
        else:
            fresh.fail(error_details={"code": "ProcessLost", "message": message})
    except Exception:  # another waiter ended it at the same moment
        pass


def _mark_owner_lost(run: Run, pid: int) -> None:
    """The process that started a local run died without ending it: fail the run."""
    _end_for_the_lost(
        run,
        f"the process (pid {pid}) that started run {run.id} ended without ending the run "
        f"(killed? out of memory?); what it logged until then is kept",
    )


def _end_ranks_gone(run: Run, clean: list[int], lost: list[int]) -> None:
    """Every rank of a torchrun job has exited and the run is still open: a rank that died without
    ending (killed, out of memory) fails it; when every rank that joined ended cleanly (the others
    never used runlog), it is Completed."""
    _end_for_the_lost(
        run,
        f"process(es) {', '.join(map(str, lost))} of distributed run {run.id} ended without ending the run "
        f"(killed? out of memory?); what they logged until then is kept"
        if lost
        else None,
    )


def _mark_lost(run: Run) -> None:
    """The supervisor died without ending the run (``kill -9``): stop what it left running, fail the run."""

    status = run.get_status()
    if status in ("Completed", "Failed", "Canceled"):
        return
    try:
        info = json.loads((run.path / layout.FILES_DIR / PROCESS_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    for proc in info.get("processes", []):
        try:
            os.killpg(int(proc["pgid"]), signal.SIGKILL)  # nobody is left to capture their output
        except (OSError, KeyError, TypeError, ValueError):
            pass
    workdir = info.get("cwd")
    if isinstance(workdir, str) and Path(workdir).name.startswith(f"runlog-{run.id}-"):
        shutil.rmtree(workdir, ignore_errors=True)
    fresh = Run(run.experiment, run.id)
    message = (
        f"the runlog supervisor process (pid {run._record.get('supervisor_pid')}) of run {run.id} ended without "
        f"ending the run (killed?); the script's processes were stopped and its outputs are lost. "
        f"See logs/supervisor_log.txt"
    )
    if status == "CancelRequested":
        fresh._end("Canceled")
    else:
        fresh.fail(error_details={"code": "SupervisorLost", "message": message})


def follow(run: Run, name: str | None = None, out: IO[str] | None = None, *, header: bool = False, all_ranks: bool = False) -> str:
    """Print log ``name`` of ``run`` as it grows until the run ends; returns the final status.

    ``all_ranks`` (no ``name``): a multi-process run's every rank's driver log, interleaved by time,
    each line prefixed ``[rank N]``; a single-process run's driver log as without it.
    """
    out = out if out is not None else sys.stdout
    if all_ranks and name is None and rank_logs(run):
        return _follow_ranks(run, out, header)
    name = name or main_log_name(run)
    tail = LogTail(run.path / layout.FILES_DIR / name)
    watch = _EndWatch(run)
    announced = False
    try:
        while True:
            done = watch.ended()
            if header and not announced and (tail.exists() or done):
                out.write(f"\nStreaming {name}\n{'=' * (len(name) + 10)}\n\n")
                announced = True
            for line in tail.read_lines(final=done):
                out.write(line + "\n")
            out.flush()
            if done:
                return run.get_status()
            time.sleep(POLL_SECONDS)
    finally:
        tail.close()


def _follow_ranks(run: Run, out: IO[str], header: bool) -> str:
    tails: dict[int, LogTail] = {}
    carry: dict[int, str] = {}
    watch = _EndWatch(run)
    announced = False
    try:
        while True:
            done = watch.ended()
            for rank, name in rank_logs(run).items():  # ranks started by torchrun appear as they start
                if rank not in tails:
                    tails[rank] = LogTail(run.path / layout.FILES_DIR / name)
            if header and not announced and (any(t.exists() for t in tails.values()) or done):
                title = "Streaming " + ", ".join(f"logs/{t.path.name}" for t in tails.values())
                out.write(f"\n{title} (each line prefixed with its rank)\n{'=' * len(title)}\n\n")
                announced = True
            batch = {rank: tail.read_lines(final=done) for rank, tail in tails.items()}
            for rank, line in interleave_ranks(batch, carry):
                out.write(rank_prefix(rank) + line + "\n")
            out.flush()
            if done:
                return run.get_status()
            time.sleep(POLL_SECONDS)
    finally:
        for tail in tails.values():
            tail.close()


def _web_view(run: Run) -> str:
    """The run's page in the local viewer (``runlog ui``; ``RUNLOG_UI_URL``), as Azure links its studio."""
    return viewer_url(run.id)


def wait_for_completion(
    run: Run, show_output: bool = False, wait_post_processing: bool = False, raise_on_error: bool = True
) -> dict[str, Any]:
    """Wait until ``run`` is Completed, Failed or Canceled; return its details.

    ``show_output=True`` prints ``RunId:``, ``Web View:``, then ``Streaming <log>``
    with the driver log as it grows (a multi-process run's every rank's, interleaved by
    time, each line prefixed ``[rank N]``), then an
    ``Execution Summary``. A Failed run raises :class:`runlog.ActivityFailedError`
    (``raise_on_error=True``) or has its error printed as indented JSON.
    Ctrl-C stops the waiting only: the run keeps going, and a line says so.
    ``wait_post_processing`` is accepted: the wait always includes collecting outputs.
    """
    if run._owner_pid == os.getpid() and not run._finished:
        raise RuntimeError(
            f"run {run.id} was started by this process (start_logging / Run.get_context) and ends only when this "
            f"process calls run.complete(): waiting for it here would wait forever"
        )
    out = sys.stdout
    try:
        if show_output:
            out.write(f"RunId: {run.id}\nWeb View: {_web_view(run)}\n")
            out.flush()
            follow(run, None, out, header=True, all_ranks=True)
        else:
            watch = _EndWatch(run)
            while not watch.ended():
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        out.write(
            f"\nStopped waiting for run {run.id}: the run keeps going (status {run.get_status()}). "
            f"Follow it again with run.wait_for_completion(show_output=True) or `runlog logs {run.id} --follow`; "
            f"stop it with run.cancel().\n"
        )
        out.flush()
        return run.get_details()
    run._finished = True
    details = run.get_details()
    error = details.get("error")
    if show_output:
        out.write(f"\nExecution Summary\n=================\nRunId: {run.id}\nWeb View: {_web_view(run)}\n")
        if error and not raise_on_error:
            out.write("\nError:\n" + json.dumps(error, indent=4, default=repr) + "\n")
        out.write("\n")
        out.flush()
    if details["status"] == RunStatus.FAILED and raise_on_error:
        inner = (error or {}).get("error", {}) if isinstance(error, dict) else {}
        exit_code = inner.get("exit_code")
        message = inner.get("message") or "the run failed; see its driver log"
        raise ActivityFailedError(
            f"run {run.id} failed: {message}",
            run_id=run.id,
            exit_code=exit_code if isinstance(exit_code, int) else None,
            error=error or {},
        )
    return details
