"""The run model: workspaces, experiments, runs, metric shapes and the active-run registry.

It is the Azure ML SDK v1 surface (``Workspace``, ``Experiment``, ``Run``) over the store
below it, and knows nothing above it: where a run must reach a layer above (start an
uploader, stream a submitted job, sample system metrics) it calls the seams of
:mod:`runlog._model.hooks`, which those layers fill in when they are imported.
"""
