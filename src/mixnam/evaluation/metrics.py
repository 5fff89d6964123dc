"""Metrics in the dataset's original units, named as in the run records (rmse, mse, auc)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def score(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Regression -> {rmse, mse}; classification -> {auc} (y_pred: positive-class probability)."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if not np.all(np.isfinite(y_pred)):
        raise FloatingPointError("predictions contain NaN or inf; the model diverged")
    if task == "regression":
        mse = float(np.mean((y_true - y_pred) ** 2))
        return {"rmse": float(np.sqrt(mse)), "mse": mse}
    if task == "classification":
        return {"auc": float(roc_auc_score(y_true, y_pred))}
    raise ValueError(f"unknown task {task!r}; expected 'regression' or 'classification'")
