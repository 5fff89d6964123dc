"""The training side of `fidelity=paper|code` (conf/fidelity/): model selection and early stopping.

The paper selects the checkpoint on the validation metric and stops after a quarter of the epoch
budget without improvement; the authors' code (Teddy-XiongGZ/NAE, src/config.py) selects
classification models on AUC + 0.1 x macro-F1 at a 0.5 threshold and stops once
`epoch - best_epoch > M // 4`, i.e. after M // 4 + 1 epochs without improvement.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from mixnam.contracts import Problem
from mixnam.errors import ConfigError

SELECTIONS = ("metric", "auc_f1")
F1_WEIGHT = 0.1


def check_selection(selection: str) -> None:
    if selection not in SELECTIONS:
        raise ConfigError(f"fidelity.selection must be one of {', '.join(SELECTIONS)}; got {selection!r}")


def monitor_name(problem: Problem, selection: str) -> str:
    """What early stopping and the best checkpoint watch: `val_<metric>` or `val_auc_f1`."""
    return "val_auc_f1" if selection == "auc_f1" and problem.task == "classification" else f"val_{problem.metric}"


def selection_score(problem: Problem, y_true: np.ndarray, y_pred: np.ndarray, selection: str) -> float:
    """The validation score a checkpoint is selected on (model units: probabilities for classification)."""
    score = problem.primary(y_true, y_pred)
    if selection == "auc_f1" and problem.task == "classification":
        labels = np.asarray(y_true).ravel().astype(int)
        score += F1_WEIGHT * f1_score(labels, (np.asarray(y_pred).ravel() > 0.5).astype(int), average="macro")
    return float(score)


def patience(max_epochs: int, fraction: float, extra_epochs: int = 0) -> int:
    """Epochs without improvement before stopping: a share of the budget (at least 1), plus `extra_epochs`."""
    return max(1, int(max_epochs * fraction)) + int(extra_epochs)
