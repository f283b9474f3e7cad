"""Helpers of train.py (a module of the source directory: it is snapshotted with the script)."""

import numpy as np


def get_alphas() -> "np.ndarray":
    """The 20 regularization strengths the sweep tries: 0.00, 0.05, ..., 0.95."""
    return np.arange(0.0, 1.0, 0.05)
