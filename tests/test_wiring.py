"""runlog._wiring and runlog._model.hooks: every seam of the run model is filled by the layer above it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import runlog
from runlog._model.hooks import Seams, seams


def test_every_seam_is_filled_when_runlog_is_imported() -> None:
    """After `import runlog`, no seam is the placeholder that raises; each is the upper layer's function."""
    from runlog._capture import lifecycle, sysmetrics
    from runlog._jobs import environment, processes, stream, submit
    from runlog._model import workspace

    assert lifecycle.on_run_started in seams.run_started
    assert seams.environment_run is environment.environment_run
    assert seams.offline_run is workspace.offline_run
    assert seams.submit is submit.submit
    assert seams.wait_for_completion is stream.wait_for_completion
    assert seams.terminate is processes.terminate_run_processes
    assert seams.start_sampler is sysmetrics.start_for_run
    assert seams.uploads is not None


def test_an_unfilled_seam_says_which_and_where_it_is_filled() -> None:
    """A Seams nobody wired raises a RuntimeError naming the seam (never an AttributeError deep inside)."""
    bare = Seams()
    with pytest.raises(RuntimeError, match="'submit' was not filled"):
        bare.submit(None, None)
    with pytest.raises(RuntimeError, match="'uploads' was not filled"):
        bare.upload()


def test_importing_a_private_module_first_still_wires_the_package() -> None:
    """`import runlog._model.run` runs runlog/__init__.py first, so a run made then reaches every layer."""
    code = (
        "import runlog._model.run as r, runlog._model.hooks as h\n"
        "assert h.seams.submit.__module__ == 'runlog._jobs.submit', h.seams.submit\n"
        "print('wired')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "wired"


def test_uploads_are_imported_on_first_use_only() -> None:
    """The uploaders (tenacity, an HTTP client) are not imported by `import runlog` or by a run that uploads nothing."""
    code = (
        "import sys, tempfile, runlog\n"
        "ws = runlog.Workspace(tempfile.mkdtemp())\n"
        "run = runlog.Experiment(ws, 'e').start_logging(outputs=False, log_system_metrics=False)\n"
        "run.log('x', 1); run.complete()\n"
        "print('runlog._upload' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "False"
    assert runlog.__version__


def test_wire_is_idempotent_and_keeps_every_seam() -> None:
    """`runlog._wiring.wire()` run again (a re-import) fills the same seams with the same functions, once each."""
    from runlog._wiring import wire

    before = (seams.submit, seams.wait_for_completion, seams.start_sampler, list(seams.run_started))
    wire()
    assert (seams.submit, seams.wait_for_completion, seams.start_sampler, list(seams.run_started)) == before
