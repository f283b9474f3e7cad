"""The Azure ML SDK v1 run API on the local store: the logging-api notebook, shapes, errors, status."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

import runlog
from runlog import Experiment, Run, RunStatus, Workspace

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def test_logging_api_notebook_runs_with_only_the_import_changed(tmp_path: Path) -> None:
    """The code of Azure ML's logging-api notebook runs unchanged and reads back what it logged."""
    ws = Workspace.from_config()
    experiment = Experiment(workspace=ws, name="logging-api-test")
    run = experiment.start_logging()
    run.log(name="Category", value="Red")
    run.log(name="scale factor", value=2)
    run.log_list(name="Fibonacci", value=(i * 2 for i in [0, 1, 1, 2, 3, 5, 8]))
    sines = {"angle": [], "sine": []}
    for i in range(-10, 10):
        run.log(name="Sigmoid", value=1 / (1 + np.exp(-i)))
        run.log_row(name="Cosine Wave", angle=i / 2.0, cos=np.cos(i / 2.0))
        sines["angle"].append(i / 2.0)
        sines["sine"].append(math.sin(i / 2.0))
    run.log_table(name="Sine Wave", value=sines)
    x = np.linspace(-3, 3, 20)
    plt.plot(x, np.tanh(x))
    run.log_image(name="Hyperbolic Tangent", plot=plt)
    plt.close("all")
    os.makedirs("logging-api", exist_ok=True)
    Path("logging-api/myfile.txt").write_text("hello\n")
    run.upload_file(name="logging-api/myfile.txt", path_or_stream="logging-api/myfile.txt")
    run.complete()

    fetched = Run(experiment, run.id)
    metrics = fetched.get_metrics()
    assert metrics["Category"] == "Red"
    assert metrics["scale factor"] == 2
    assert metrics["Fibonacci"] == [0, 2, 2, 4, 6, 10, 16]
    assert metrics["Sigmoid"] == pytest.approx([1 / (1 + math.exp(-i)) for i in range(-10, 10)])
    assert metrics["Cosine Wave"]["angle"] == [i / 2.0 for i in range(-10, 10)]
    assert metrics["Cosine Wave"]["cos"] == pytest.approx([math.cos(i / 2.0) for i in range(-10, 10)])
    assert metrics["Sine Wave"] == sines
    image = metrics["Hyperbolic Tangent"]
    assert image.startswith("images/Hyperbolic_Tangent_") and image.endswith(".png")
    assert fetched.get_metrics(name="scale factor") == {"scale factor": 2}
    assert fetched.get_metrics(name="no such metric") == {}
    names = fetched.get_file_names()
    assert "logging-api/myfile.txt" in names and image in names
    out = fetched.download_file("logging-api/myfile.txt", str(tmp_path / "copy.txt"))
    assert Path(out).read_text() == "hello\n"
    png = fetched.download_file(image, str(tmp_path))
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fetched.tag("My Favorite Run")
    fetched.tag("Competition Rank", 1)
    assert fetched.get_tags() == {"My Favorite Run": "", "Competition Rank": "1"}
    assert fetched.get_status() == "Completed"


def test_values_of_every_scalar_type_come_back_as_logged(exp: Experiment) -> None:
    """int, float (NaN, +-inf), bool, str, None and numpy scalars round-trip through the store."""
    run = exp.start_logging()
    values = {
        "int": 7, "float": 0.1, "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"),
        "true": True, "str": "héllo \"quoted\"\n", "none": None, "np.float32": np.float32(0.5),
        "np.int64": np.int64(3), "np.bool": np.bool_(False), "big": 2**70,
    }  # fmt: skip
    for name, value in values.items():
        run.log(name, value)
    got = run.get_metrics()
    assert math.isnan(got.pop("nan"))
    expected = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items() if k != "nan"}
    assert got == expected
    assert type(got["true"]) is bool and type(got["np.int64"]) is int


def test_other_objects_are_stored_as_their_repr(exp: Experiment) -> None:
    """As in Azure ML, a value of another type is stored as repr(value)."""
    run = exp.start_logging()
    run.log("obj", {"a": 1})
    assert run.get_metrics()["obj"] == "{'a': 1}"


@pytest.mark.parametrize("value", [[1, 2], (1, 2), range(3), (i for i in range(3)), np.array([1.0, 2.0])])
def test_log_of_a_list_says_to_use_log_list(exp: Experiment, value: object) -> None:
    """run.log of a list, range, generator or array raises a TypeError pointing to log_list."""
    run = exp.start_logging()
    run.log("kept", 1)
    with pytest.raises(runlog.InvalidMetricValue, match="Use run.log_list instead") as info:
        run.log("bad", value)
    assert isinstance(info.value, TypeError)
    assert run.get_metrics() == {"kept": 1}


def test_metric_names_must_be_non_empty_strings(exp: Experiment) -> None:
    """A metric name that is not a non-empty str is refused with a clear error."""
    run = exp.start_logging()
    for bad in ("", None, 3):
        with pytest.raises(runlog.InvalidMetricValue, match="metric name must be a non-empty str"):
            run.log(bad, 1)  # type: ignore[arg-type]


def test_status_transitions_and_logging_to_a_finished_run(exp: Experiment) -> None:
    """A started run is Running; complete() makes it Completed; logging after that is an error."""
    run = exp.start_logging()
    assert run.get_status() == RunStatus.RUNNING
    run.log("a", 1)
    run.complete()
    run.complete()  # a second complete is a no-op
    assert run.get_status() == "Completed"
    with pytest.raises(runlog.RunFinishedError, match="is Completed") as info:
        run.log("a", 2)
    assert isinstance(info.value, RuntimeError) and info.value.run_id == run.id
    with pytest.raises(runlog.InvalidStatusTransition, match="already Completed"):
        run.fail()
    assert Run(exp, run.id).get_metrics() == {"a": 1}


def test_context_manager_completes_fails_and_treats_exit_zero_as_success(exp: Experiment) -> None:
    """with run: completes on normal exit and on SystemExit(0); fails, with the error, on an exception."""
    with exp.start_logging() as ok:
        ok.log("x", 1)
    assert ok.get_status() == "Completed"
    with pytest.raises(SystemExit), exp.start_logging() as exited:
        raise SystemExit(0)
    assert exited.get_status() == "Completed"
    with pytest.raises(ZeroDivisionError), exp.start_logging() as bad:
        bad.log("y", 2)
        1 / 0  # noqa: B018
    assert bad.get_status() == "Failed"
    error = bad.get_details()["error"]["error"]
    assert "ZeroDivisionError" in error["message"] and "1 / 0" in error["traceback"]
    assert bad.get_metrics() == {"y": 2}


def test_fail_and_cancel_record_status_and_error(exp: Experiment) -> None:
    """fail(error_details=...) records the message; cancel() marks Canceled; times are set."""
    failed = exp.start_logging()
    failed.fail(error_details="diverged", error_code="NaNLoss")
    details = failed.get_details()
    assert details["status"] == "Failed"
    assert details["error"]["error"] == {"code": "NaNLoss", "message": "diverged"}
    assert details["startTimeUtc"] <= details["endTimeUtc"]
    canceled = exp.start_logging()
    canceled.cancel()
    assert canceled.get_status() == "Canceled"


def test_tags_properties_and_display_name(exp: Experiment) -> None:
    """Tags are mutable strings; properties are write-once; the display name can be set."""
    run = exp.start_logging(display_name="first try")
    assert run.display_name == "first try"
    run.display_name = "renamed"
    assert run.display_name == "renamed"
    run.set_tags({"a": 1, "b": "two"})
    run.remove_tags(["a"])
    run.tag("c")
    assert run.get_tags() == {"b": "two", "c": ""}
    run.add_properties({"seed": 42})
    run.add_properties({"seed": "42"})  # same value again is fine
    with pytest.raises(ValueError, match="properties cannot change"):
        run.add_properties({"seed": 43})
    assert run.get_properties() == {"seed": "42"}
    assert run.get_details()["tags"] == {"b": "two", "c": ""}


def test_child_runs_and_recursive_metrics(exp: Experiment) -> None:
    """child_run creates runs under the parent; get_metrics(recursive=True) maps run ids to metrics."""
    parent = exp.start_logging()
    parent.log("p", 1)
    child = parent.child_run(name="fold-1")
    child.log("c", 2)
    grandchild = child.child_run()
    grandchild.log("g", 3)
    assert [r.id for r in parent.get_children()] == [child.id]
    assert [r.id for r in parent.get_children(recursive=True)] == [child.id, grandchild.id]
    assert child.parent == parent and child.display_name == "fold-1"
    assert parent.get_metrics(recursive=True) == {parent.id: {"p": 1}, child.id: {"c": 2}, grandchild.id: {"g": 3}}
    assert [r.id for r in exp.get_runs()] == [parent.id]
    assert {r.id for r in exp.get_runs(include_children=True)} == {parent.id, child.id, grandchild.id}


def test_fetching_an_unknown_run_suggests_close_ids(exp: Experiment) -> None:
    """Run(experiment, bad_id) raises RunNotFound (a LookupError) with close matches."""
    run = exp.start_logging()
    with pytest.raises(runlog.RunNotFound, match="Did you mean") as info:
        Run(exp, run.id[:-1])
    assert isinstance(info.value, LookupError) and run.id in info.value.suggestions
    assert Run.get(exp.workspace, run.id) == run


def test_get_context_returns_the_active_run_or_a_real_local_run() -> None:
    """Run.get_context(): the active run if any; else a real local run, completed at exit."""
    ws = Workspace.from_config()
    run = Experiment(ws, "ctx").start_logging()
    assert Run.get_context() is run
    run.complete()
    offline = Run.get_context()
    assert offline is not run and offline.get_status() == "Running"
    offline.log("x", 1)
    assert Run.get_context() is offline
    with pytest.raises(RuntimeError, match="allow_offline=False"):
        offline.complete()
        Run.get_context(allow_offline=False)


def test_get_runs_filters_by_tags_and_is_newest_first(exp: Experiment) -> None:
    """Experiment.get_runs yields newest first and filters by tags."""
    first = exp.start_logging()
    first.tag("keep", "yes")
    first.complete()
    second = exp.start_logging()
    second.complete()
    assert [r.id for r in exp.get_runs()][:2] == [second.id, first.id]
    assert [r.id for r in exp.get_runs(tags={"keep": "yes"})] == [first.id]
    assert [r.id for r in exp.get_runs(tags="keep")] == [first.id]


def test_get_details_with_logs_returns_log_contents(exp: Experiment) -> None:
    """get_details_with_logs() maps each log file to its content."""
    run = exp.start_logging()
    run._writer.write_log("hello log\n")
    details = run.get_details_with_logs()
    assert details["logFiles"] == {"logs/driver_log.txt": "hello log\n"}
    assert run.get_details()["logFiles"]["logs/driver_log.txt"].endswith("driver_log.txt")


def test_flush_is_safe_and_keeps_data(exp: Experiment) -> None:
    """run.flush() fsyncs without losing or duplicating anything."""
    run = exp.start_logging()
    run.log("a", 1)
    run.flush()
    run.log("a", 2)
    assert run.get_metrics() == {"a": [1, 2]}


def test_repr_names_experiment_id_and_status(exp: Experiment) -> None:
    """repr(run) follows Azure's Run(Experiment: ..., Id: ..., Type: ..., Status: ...)."""
    run = exp.start_logging()
    assert repr(run) == f"Run(Experiment: test-exp,\nId: {run.id},\nType: local,\nStatus: Running)"


def _run_script(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120)


def test_get_context_in_a_script_without_a_run_creates_one_completed_at_exit(store: Path) -> None:
    """A script that only calls Run.get_context().log(...) leaves a real, Completed run behind."""
    proc = _run_script(
        """
        from runlog import Run
        run = Run.get_context()
        run.log("accuracy", 0.9)
        print(run.id)
        """
    )
    assert proc.returncode == 0, proc.stderr
    run = Workspace(store).get_run(proc.stdout.strip())
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"accuracy": 0.9}


def test_get_context_finds_the_run_named_by_the_environment(exp: Experiment, store: Path) -> None:
    """A child started with RUNLOG_RUN_ID (as experiment.submit does) logs into that run."""
    run = exp.start_logging()
    proc = _run_script(
        """
        from runlog import Run
        run = Run.get_context()
        run.log("from_child", 1)
        print(run.id)
        """,
        {"RUNLOG_RUN_ID": run.id, "RUNLOG_EXPERIMENT": exp.name, "RUNLOG_STORE": str(store)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == run.id
    assert run.get_metrics() == {"from_child": 1}
    assert run.get_status() == "Running"  # the child does not own the run: it does not complete it


def test_a_run_ended_by_another_process_keeps_that_status(exp: Experiment) -> None:
    """A run canceled by another process is not turned Completed by this one (with-block exit or interpreter exit)."""
    from runlog._model import context as _context
    from runlog._store import RunWriter

    with exp.start_logging() as run:
        RunWriter(run.path).meta("status", "Canceled", None)  # what run.cancel() in another process writes
    assert run.get_status() == "Canceled"
    assert _context.active_run() is None

    left_open = exp.start_logging()
    RunWriter(left_open.path).meta("status", "Failed", {"error": {"code": "UserError", "message": "elsewhere"}})
    _context._finish_at_exit()
    assert left_open.get_status() == "Failed"
    with pytest.raises(runlog.InvalidStatusTransition, match="already Failed"):
        left_open.complete()


@pytest.mark.parametrize("bad", ["..", ".", "ok\n"])
def test_run_ids_that_leave_the_runs_folder_are_refused(exp: Experiment, bad: str) -> None:
    """child_run(run_id=...) refuses '.', '..' and ids with a trailing newline, creating nothing outside the run."""
    parent = exp.start_logging()
    before = sorted(p.name for p in exp.path.iterdir())
    with pytest.raises(ValueError, match="run id may contain only"):
        parent.child_run(run_id=bad)
    assert sorted(p.name for p in exp.path.iterdir()) == before
    assert not (exp.path / "run.json").exists()


def _store_fds(store: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(store)):
            found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_tagging_ended_or_fetched_runs_keeps_no_descriptor_open(exp: Experiment, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tags, properties and names set on a finished run, or through a fetched Run, leave no file open (long sweeps)."""
    import runlog._store.writer as writer_module

    monkeypatch.setattr(writer_module, "RETIRE_SECONDS", 0.0)  # retired descriptors closed at the next close
    for _ in range(3):
        run = exp.start_logging()
        run.log("x", 1)
        run.complete()
        run.tag("after", "done")  # as the logging-api notebook does on the fetched run
        Run(exp, run.id).add_properties({"score": 1})
        run.display_name = "renamed"
        assert run.get_tags() == {"after": "done"} and run.get_properties() == {"score": "1"}
    running = exp.start_logging()
    fetched = Run(exp, running.id)
    fetched.tag("from", "elsewhere")
    running.complete()
    # Only the files of the run that ended last may still be open (retired until the next run ends), and
    # the store's one change journal (one descriptor per store, not per run).
    journal = str(store / "changes.log")
    assert [path for path in _store_fds(store) if not path.startswith(str(running.path)) and path != journal] == []


def test_a_long_sweep_keeps_a_bounded_number_of_retired_descriptors(exp: Experiment, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Descriptors of ended runs wait RETIRE_SECONDS before they are closed (a late write never lands in a
    reused number), but never more than RETIRE_MAX of them: 30 runs in a row leave at most that many open."""
    import runlog._store.writer as writer_module

    monkeypatch.setattr(writer_module, "RETIRE_MAX", 8)
    for i in range(30):
        run = exp.start_logging()
        run.log("x", i)
        run.log("s", "text")
        run.complete()
    assert len([p for p in _store_fds(store) if not p.endswith("changes.log")]) <= 8  # (+ the store's one journal)
    last = run._writer
    assert last._points_fd == last._metrics_fd == -1


def test_threads_calling_get_context_at_once_share_one_offline_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads that both find no active run get the same new local run, not one each."""
    import threading

    real = Workspace.from_config.__func__  # type: ignore[attr-defined]
    first_inside, second_inside, release = threading.Event(), threading.Event(), threading.Event()
    calls: list[int] = []

    def slow_from_config(cls: type[Workspace], *args: object, **kwargs: object) -> Workspace:
        calls.append(1)
        if len(calls) == 1:
            first_inside.set()
            release.wait(10)
        else:
            second_inside.set()
        return real(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Workspace, "from_config", classmethod(slow_from_config))
    got: list[Run] = []
    first = threading.Thread(target=lambda: got.append(Run.get_context()))
    first.start()
    assert first_inside.wait(10)
    second = threading.Thread(target=lambda: got.append(Run.get_context()))
    second.start()
    second_inside.wait(1)  # with the bug the second thread gets here too; without it, it waits for the first
    release.set()
    first.join(10)
    second.join(10)
    assert len(got) == 2 and got[0] is got[1]
    assert len(calls) == 1


def test_a_property_with_a_non_str_key_cannot_change_either(exp: Experiment) -> None:
    """add_properties stores keys as str; changing the value of such a key raises like any other."""
    run = exp.start_logging()
    run.add_properties({1: "a"})
    with pytest.raises(ValueError, match="properties cannot change"):
        run.add_properties({1: "b"})
    assert run.get_properties() == {"1": "a"}


def test_an_interrupt_while_outputs_are_collected_still_ends_the_run(exp: Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while complete() copies ./outputs (a second Ctrl-C on a big checkpoint folder) leaves no run Running forever."""
    from runlog._model import context as _context

    run = exp.start_logging()

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "_collect_outputs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.complete()
    assert run.get_status() == "Completed"
    assert _context.active_run() is None


def _spawned_get_context(queue: Any) -> None:  # pragma: no cover - runs in the child
    from runlog import Run

    run = Run.get_context()
    run.log("from_spawned_child", 1)
    queue.put(run.id)


def test_a_spawned_child_finds_the_run_started_in_its_parent(exp: Experiment) -> None:
    """start_logging names the run in RUNLOG_* variables, so a multiprocessing 'spawn' child's
    Run.get_context() logs into it; the variables are removed when the run ends."""
    import multiprocessing

    assert "RUNLOG_RUN_ID" not in os.environ
    run = exp.start_logging()
    assert os.environ["RUNLOG_RUN_ID"] == run.id
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_spawned_get_context, args=(queue,))
    child.start()
    assert queue.get(timeout=60) == run.id
    child.join(60)
    assert child.exitcode == 0
    assert run.get_metrics() == {"from_spawned_child": 1}
    run.complete()
    assert "RUNLOG_RUN_ID" not in os.environ




def test_the_public_run_is_the_run_models_own() -> None:
    from runlog._model import run as run_module

    assert runlog.Run is run_module.Run and Run is run_module.Run
