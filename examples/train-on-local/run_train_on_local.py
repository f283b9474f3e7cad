"""The train-on-local notebook as a script: submit train.py, stream its log, read its metrics.

Run it with ``python examples/train-on-local/run_train_on_local.py`` (the store is
$RUNLOG_STORE, a config file's store, or ./runlog-store). Each block below is one
cell of Azure ML's notebook, with the import line changed to runlog.
"""

import os

from runlog import Environment, Experiment, ScriptRunConfig, Workspace

here = os.path.dirname(os.path.abspath(__file__))

# Initialize the workspace and create an experiment.
ws = Workspace.from_config()
exp = Experiment(workspace=ws, name="train-on-local")

# A user-managed environment: the script runs with this interpreter and its packages.
user_managed_env = Environment("user-managed-env")
user_managed_env.python.user_managed_dependencies = True

# Configure and submit: returns at once, train.py runs in a child process.
src = ScriptRunConfig(source_directory=here, script="train.py", arguments=["--alpha", 0.5], environment=user_managed_env)
run = exp.submit(src)

# Stream the driver log, then an execution summary.
run.wait_for_completion(show_output=True)

# Query the metrics train.py logged.
metrics = run.get_metrics()
best = min(range(len(metrics["mse"])), key=lambda i: metrics["mse"][i])
print(f"{len(metrics['alpha'])} alphas tried; best alpha {metrics['alpha'][best]:.2f} with mse {metrics['mse'][best]:.2f}")

# The models train.py wrote under ./outputs are part of the run.
print("files:", ", ".join(n for n in run.get_file_names() if n.startswith("outputs/model")))
run.download_file("outputs/model.pkl", output_file_path=os.path.join(os.getcwd(), "model.pkl"))
print("downloaded model.pkl of", run.id)
