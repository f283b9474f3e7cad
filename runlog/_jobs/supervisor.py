"""The detached process that runs a submitted script: ``python -m runlog._jobs.supervisor``.

It reads the job spec (JSON) from stdin (EOF without a spec: the submit failed,
nothing to do), starts each process of the job in its own process group with
its stdout and stderr connected to pipes (file-descriptor level: C extensions'
writes and the output of subprocesses are captured too), writes their lines
into the driver logs, records ``logs/process_info.json`` and
``logs/process_status.json``, and ends the run: Completed when every process
exited 0, Failed with the exit code and the last traceback otherwise, Canceled
on SIGTERM/SIGINT (``run.cancel()``) or past ``max_run_duration_seconds``.

Processes a script leaves running (daemons it started) are stopped when the
run ends, as a cloud job's container would be.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .._capture.output import LineAssembler, format_time, last_traceback
from .._model.context import ENV_EXPERIMENT, ENV_RUN_ID, ENV_STORE
from .._model.run import Run, RunStatus
from .._model.workspace import Experiment, Workspace
from .._store import layout
from .._store.mlflow_names import script_environment
from .processes import CANCEL_GRACE_SECONDS, PROCESS_INFO
from .submit import (
    ENV_SOURCE_DIRECTORY,
    PROCESS_STATUS,
    SUPERVISOR_LOG,
    rank_log_name,
)

STRAGGLER_SECONDS = 2.0
# A launcher's variables in the submitter's own environment (submitting from inside a torchrun
# job) must not make a single-process script believe it is a rank.
_LAUNCHER_VARS = frozenset(
    {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"}
)


class _Proc:
    def __init__(self, rank: int | None, popen: subprocess.Popen[bytes], log_name: str) -> None:
        self.rank = rank
        self.popen = popen
        self.log_name = log_name
        self.started = time.time()
        self.ended: float | None = None
        self.returncode: int | None = None
        self.stdout: LineAssembler | None = None
        self.stderr: LineAssembler | None = None


class Supervisor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        ws = Workspace(spec["store"], tracking_uri=spec.get("tracking_uri"))
        self.run = Run(Experiment(ws, spec["experiment"], _skip_name_validation=True), spec["run_id"])
        # The supervisor outlives the script's processes: it uploads the run while it runs, and
        # the run's end waits (bounded) for the upload like any other run.
        self.run._start_upload()
        self.writer = self.run._writer
        self.procs: list[_Proc] = []
        self.cancel_reason: str | None = None
        self.cancel_at: float | None = None
        self.killed = False

    # -- diagnostics ----------------------------------------------------------------

    def say(self, message: str) -> None:
        try:
            self.writer.write_log(f"{format_time(time.time())} {message}\n", SUPERVISOR_LOG)
        except Exception:
            pass

    def request_cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
            self.cancel_at = time.monotonic() + CANCEL_GRACE_SECONDS
            self.say(f"cancel: {reason}; stopping the process groups (SIGTERM)")
            self.signal_groups(signal.SIGTERM)

    def signal_groups(self, sig: int) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.popen.pid, sig)
            except OSError:
                pass

    # -- launching ------------------------------------------------------------------

    def environment(self, rank: int | None, nproc: int, port: int) -> dict[str, str]:
        spec = self.spec
        env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARS and not k.startswith("TORCHELASTIC_")}
        # MLflow clients of the script log into this run (as in an Azure ML job), unless the
        # script's own environment variables (ScriptRunConfig/Environment) name something else.
        env.update(script_environment(spec["store"], spec["experiment"], spec["run_id"], spec.get("tracking_uri")))
        env.update(spec.get("env") or {})
        env.update(
            {
                ENV_STORE: spec["store"],
                ENV_EXPERIMENT: spec["experiment"],
                ENV_RUN_ID: spec["run_id"],
                "RUNLOG_OUTPUT_CAPTURED": "1",
                ENV_SOURCE_DIRECTORY: spec["source_directory"],
                "PYTHONUNBUFFERED": "1",  # lines reach the log as they are printed, not when a buffer fills
            }
        )
        if rank is not None:
            env.update(
                {
                    "RANK": str(rank),
                    "LOCAL_RANK": str(rank),
                    "WORLD_SIZE": str(nproc),
                    "LOCAL_WORLD_SIZE": str(nproc),
                    "GROUP_RANK": "0",
                    "NODE_RANK": "0",
                    "MASTER_ADDR": "127.0.0.1",
                    "MASTER_PORT": str(port),
                    "TORCHELASTIC_RUN_ID": spec["run_id"],
                }
            )
            if spec.get("mpi"):
                env.update(
                    {
                        "OMPI_COMM_WORLD_RANK": str(rank),
                        "OMPI_COMM_WORLD_SIZE": str(nproc),
                        "OMPI_COMM_WORLD_LOCAL_RANK": str(rank),
                        "OMPI_COMM_WORLD_LOCAL_SIZE": str(nproc),
                    }
                )
        return env

    def launch(self) -> None:
        spec = self.spec
        nproc = int(spec["nproc"])
        ranks: list[int | None] = list(range(nproc)) if spec.get("distributed") else [None]
        port = _free_port() if spec.get("distributed") else 0
        for rank in ranks:
            log_name = rank_log_name(rank, nproc)
            popen = subprocess.Popen(
                spec["argv"],
                cwd=spec["workdir"],
                env=self.environment(rank, nproc, port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: cancel stops it and everything it started
                close_fds=True,
            )
            proc = _Proc(rank, popen, log_name)
            proc.stdout = LineAssembler(self._sink(log_name))
            proc.stderr = LineAssembler(self._sink(log_name), stderr=True)
            self.procs.append(proc)
            self.say(f"started {'rank ' + str(rank) if rank is not None else 'the script'}: pid {popen.pid}, log {log_name}")
        self.write_process_info(port)

    def _sink(self, log_name: str) -> Any:
        def sink(text: str) -> None:
            try:
                self.writer.write_log(text, log_name)
            except Exception as exc:  # a full disk must not kill the job; say it once per batch
                print(f"runlog supervisor: cannot write {log_name}: {exc}", file=sys.stderr)

        return sink

    def write_process_info(self, port: int) -> None:
        info = {
            "run_id": self.run.id,
            "host": socket.gethostname(),
            "supervisor_pid": os.getpid(),
            "world_size": len(self.procs),
            "master_addr": "127.0.0.1" if port else None,
            "master_port": port or None,
            "command": self.spec["argv"],
            "cwd": self.spec["workdir"],
            "processes": [
                {
                    "rank": p.rank,
                    "local_rank": p.rank,
                    "pid": p.popen.pid,
                    "pgid": p.popen.pid,
                    "host": socket.gethostname(),
                    "driver_log": p.log_name,
                    "events_prefix": f"{socket.gethostname().split('.')[0] or 'host'}-{p.popen.pid}-",
                    "started": format_time(p.started),
                }
                for p in self.procs
            ],
        }
        self._write_json(PROCESS_INFO, info)

    def _write_json(self, name: str, data: Any) -> None:
        layout.write_json_atomic(self.run.path / layout.FILES_DIR / name, data)

    def start_system_metrics(self) -> None:
        """Sample the machine and the job's process tree (every rank and its children) until the run ends."""
        environ = {**os.environ, **(self.spec.get("env") or {})}  # the environment's variables can switch it
        procs = self.procs
        self.run._start_system_metrics(
            self.spec.get("system_metrics"), lambda: [p.popen.pid for p in procs if p.returncode is None], environ
        )

    # -- the capture loop -------------------------------------------------------------

    def capture(self) -> None:
        sel = selectors.DefaultSelector()
        for proc in self.procs:
            assert proc.popen.stdout is not None and proc.popen.stderr is not None
            for pipe, asm in ((proc.popen.stdout, proc.stdout), (proc.popen.stderr, proc.stderr)):
                os.set_blocking(pipe.fileno(), False)
                sel.register(pipe, selectors.EVENT_READ, asm)
        limit = self.spec.get("max_run_duration_seconds")
        deadline = time.monotonic() + float(limit) if limit else None
        all_exited_at: float | None = None
        stragglers_signalled = False
        while sel.get_map():
            for key, _ in sel.select(timeout=0.2):
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                assembler: LineAssembler = key.data
                if data:
                    assembler.feed(data)
                else:
                    assembler.close()
                    sel.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]
            for proc in self.procs:
                proc.stdout.tick()  # type: ignore[union-attr]
                proc.stderr.tick()  # type: ignore[union-attr]
            self.poll_processes()
            now = time.monotonic()
            self.enforce_limits(now, deadline, limit)
            if all(p.returncode is not None for p in self.procs):
                all_exited_at = all_exited_at or now
                # A process the script started may still hold the pipe: stop it, then stop reading.
                if not stragglers_signalled and now - all_exited_at > STRAGGLER_SECONDS:
                    self.say("the script exited but processes it started still hold its output: SIGTERM")
                    self.signal_groups(signal.SIGTERM)
                    stragglers_signalled = True
                elif stragglers_signalled and now - all_exited_at > 3 * STRAGGLER_SECONDS:
                    self.signal_groups(signal.SIGKILL)
                    for key in list(sel.get_map().values()):
                        key.data.close()
                        sel.unregister(key.fileobj)
                        key.fileobj.close()  # type: ignore[union-attr]
        sel.close()
        # Every pipe is closed, but a process may still run (it closed its stdout and stderr):
        # the duration limit and a cancel's SIGKILL still apply.
        while any(p.returncode is None for p in self.procs):
            self.poll_processes()
            self.enforce_limits(time.monotonic(), deadline, limit)
            time.sleep(0.05)
        self.signal_groups(signal.SIGKILL)  # nothing the script started outlives the run

    def enforce_limits(self, now: float, deadline: float | None, limit: Any) -> None:
        """Cancel past ``max_run_duration_seconds``; SIGKILL what a cancel's SIGTERM did not stop."""
        if deadline is not None and now > deadline and self.cancel_reason is None:
            self.request_cancel(f"the run exceeded max_run_duration_seconds={limit}")
        if self.cancel_at is not None and now > self.cancel_at and not self.killed:
            self.say("processes still running after SIGTERM: SIGKILL")
            self.signal_groups(signal.SIGKILL)
            self.killed = True

    def poll_processes(self) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.popen.poll() is not None:
                proc.returncode = proc.popen.returncode
                proc.ended = time.time()
                self.say(f"{_who(proc)} (pid {proc.popen.pid}) exited with {_describe_exit(proc.returncode)}")
                if proc.returncode != 0 and self.cancel_reason is None and len(self.procs) > 1:
                    # As torchrun: one failed rank fails the job; stop the others.
                    others = [p for p in self.procs if p.returncode is None]
                    if others:
                        self.say(f"{_who(proc)} failed: stopping the other processes")
                        for other in others:
                            try:
                                os.killpg(other.popen.pid, signal.SIGTERM)
                            except OSError:
                                pass

    # -- ending -----------------------------------------------------------------------

    def finish(self) -> None:
        if self.run.get_status() in RunStatus.TERMINAL and self.run._finished:
            return  # ended before it started (a failed submit)
        canceled = self.cancel_reason is not None or self.run.get_status() in (RunStatus.CANCEL_REQUESTED, RunStatus.CANCELED)
        failed = [p for p in self.procs if p.returncode != 0]
        failed.sort(key=lambda p: p.ended or 0.0)
        statuses = []
        for p in self.procs:
            code = p.returncode
            status = RunStatus.COMPLETED if code == 0 else (RunStatus.CANCELED if canceled else RunStatus.FAILED)
            statuses.append(
                {
                    "rank": p.rank,
                    "pid": p.popen.pid,
                    "status": status,
                    "exit_code": _exit_code(code),
                    "signal": _signal_name(-code) if code is not None and code < 0 else None,
                    "started": format_time(p.started),
                    "ended": format_time(p.ended or time.time()),
                    "driver_log": p.log_name,
                }
            )
        self._write_json(PROCESS_STATUS, {"run_id": self.run.id, "processes": statuses})
        self.run._set_status(RunStatus.FINALIZING)
        self.run._outputs = _outputs_dir(self.spec["workdir"])
        if canceled:
            self.say(f"run canceled ({self.cancel_reason or 'cancel requested'})")
            self.run._end(RunStatus.CANCELED, authoritative=True)
        elif failed:
            first = failed[0]
            code = _exit_code(first.returncode)
            tb = last_traceback(first.stderr.tail) if first.stderr is not None else None
            script = self.spec["argv"][2] if len(self.spec["argv"]) > 2 else " ".join(self.spec["argv"])
            message = f"{_who(first)} ({script}) exited with {_describe_exit(first.returncode)}"
            if tb:
                message += f"\n{tb}"
            details: dict[str, Any] = {
                "code": "UserError",
                "message": message,
                "exit_code": code,
                "rank": first.rank,
                "driver_log": first.log_name,
            }
            if tb:
                details["traceback"] = tb
            self.say(f"run failed: {_who(first)} exited with {_describe_exit(first.returncode)}")
            self.run._end(RunStatus.FAILED, {"error": details}, authoritative=True)
        else:
            self.say("every process exited with code 0: run completed")
            self.run._end(RunStatus.COMPLETED, authoritative=True)


def _outputs_dir(workdir: str) -> Any:
    return Path(workdir) / "outputs"


def _who(proc: _Proc) -> str:
    return f"rank {proc.rank}" if proc.rank is not None else "the script"


def _exit_code(code: int | None) -> int | None:
    if code is None:
        return None
    return 128 - code if code < 0 else code


def _signal_name(number: int) -> str:
    """``SIGKILL``; a signal Python's enum does not name (``SIGRTMIN+1``) as ``signal 35``."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        return f"exit code {128 - code} (killed by {_signal_name(-code)})"
    return f"exit code {code}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    raw = sys.stdin.buffer.read()
    if not raw.strip():
        return 0  # the submitter gave up before sending a job
    spec = json.loads(raw)
    sup = Supervisor(spec)

    def on_signal(signum: int, frame: Any) -> None:
        sup.request_cancel(f"received {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    try:
        if sup.run.get_status() in RunStatus.TERMINAL or sup.run.get_status() == RunStatus.CANCEL_REQUESTED:
            sup.say("the run was canceled before it started")
            sup.cancel_reason = "canceled before it started"
        else:
            sup.say(f"starting {spec['nproc']} process(es): {' '.join(spec['argv'])} in {spec['workdir']}")
            try:
                sup.launch()
            except OSError as exc:
                sup.say(f"could not start the script: {exc}")
                sup.signal_groups(signal.SIGKILL)  # ranks started before the failure must not outlive the run
                sup.run.fail(error_details={"code": "UserError", "message": f"could not start {spec['argv'][0]}: {exc}"})
                return 1
            sup.run._set_status(RunStatus.RUNNING)
            sup.start_system_metrics()
            if sup.cancel_reason is not None:  # a cancel that came while the processes were starting
                sup.signal_groups(signal.SIGTERM)
            sup.capture()
        sup.finish()
    except BaseException as exc:  # the run must never stay Running because the supervisor broke

        sup.say("supervisor error:\n" + traceback.format_exc())
        sup.signal_groups(signal.SIGKILL)
        try:
            if not sup.run._finished:
                sup.run.fail(error_details=exc, error_code="SupervisorError")
        except Exception:
            pass
        return 1
    finally:
        sup.run._stop_system_metrics()  # ended with the run; here when the run had ended before
        shutil.rmtree(spec["workdir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
