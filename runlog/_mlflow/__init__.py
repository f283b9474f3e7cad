"""The parts of the MLflow tracking-store plugin (:mod:`runlog.mlflow`): how runlog's records
become MLflow entities, and MLflow 3's logged models. Imported only when MLflow loads the plugin.
"""
