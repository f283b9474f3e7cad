"""Script runs: ``submit`` and its detached supervisor, source snapshots, multi-process ranks
(torchrun-style jobs sharing one run) and ``wait_for_completion`` streaming.

Built on the run model and the capture layer; the run model reaches it only through
:mod:`runlog._model.hooks`.
"""
