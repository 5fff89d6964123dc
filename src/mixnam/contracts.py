"""The ground floor: the contract every model meets, neural or library-backed, and how it is scored.

Every layer (data, models, training, explain, reporting, the scikit-learn estimators) may import this
module; it imports nothing of mixnam's.

`experiment.py` only talks to an `Estimator`: it fits on preprocessed train/val arrays and predicts
in model units (standardised target for regression, positive-class probability for classification).
`Problem` carries what a model needs to know about the task, including how to score predictions in
the dataset's original units, so early stopping and the final report use the same metric.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

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


class Arrays(NamedTuple):
    """Preprocessed features (float32, rows x features) and target in model units."""

    X: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Problem:
    """What a model may know about the task: its kind, features and how it is scored."""

    task: str  # "regression" | "classification"
    metric: str  # "rmse" | "mse" | "auc"
    feature_names: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    target_mean: float = 0.0  # regression: y_model = (y - mean) / scale
    target_scale: float = 1.0

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "auc"

    def to_original_units(self, y_model: np.ndarray) -> np.ndarray:
        """Invert the target standardisation (identity for classification)."""
        y_model = np.asarray(y_model, dtype=np.float64)
        if self.task == "regression":
            return y_model * self.target_scale + self.target_mean
        return y_model

    def score(self, y_true_model: np.ndarray, y_pred_model: np.ndarray) -> dict[str, float]:
        """The dataset's metrics in original units (RMSE/MSE on the target, AUC on probabilities)."""
        return score(self.task, self.to_original_units(y_true_model), self.to_original_units(y_pred_model))

    def primary(self, y_true_model: np.ndarray, y_pred_model: np.ndarray) -> float:
        """The one number used for model selection and the paper's tables."""
        return self.score(y_true_model, y_pred_model)[self.metric]


@dataclass
class FitSummary:
    """What a fit reports back for the run record."""

    best_epoch: int | None = None
    epochs_run: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # seconds that earlier processes spent on this fit before it was resumed (resume=true); None: a
    # checkpoint that did not keep them, so the whole fit's time is unknown
    earlier_seconds: float | None = 0.0


@runtime_checkable
class Estimator(Protocol):
    """fit on train (selecting on val), predict in model units, report its size."""

    def fit(self, train: Arrays, val: Arrays) -> FitSummary: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    @property
    def n_params(self) -> int: ...
