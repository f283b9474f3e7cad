"""The MLflow tracking-store plugin's parts (the public face is :mod:`runlog.mlflow`): the store
(``store``), how runlog's records become MLflow entities (``entities``) and MLflow 3's logged models
(``models``). Imported only when MLflow loads the plugin or a user imports :mod:`runlog.mlflow`.
"""

# MLflow first: importing it loads the tracking-store entry points, ours among them
# (runlog._mlflow.store). Any import of this package thus lets MLflow finish that before the
# store module runs here, so the store is never seen half-imported.
import mlflow  # noqa: F401
