"""Linear baseline: ridge least squares (regression) or L2 logistic regression (classification).

The paper's "Linear" row. NODE-GAM's baseline uses scikit-learn's RidgeCV / LogisticRegressionCV
over a log grid of penalties; here the penalty is picked from `model.alphas` on the validation split
like every other model of the harness (`alpha` is Ridge's alpha and 1/C for the logistic model).
With inputs already quantile-normalised, the smallest alpha is practically ordinary least squares.

`n_params` counts the fitted coefficients plus the intercept.
"""
from __future__ import annotations

import numpy as np
from omegaconf import DictConfig
from sklearn.linear_model import LogisticRegression, Ridge

from mixnam.contracts import Arrays, Problem
from mixnam.models.library import PenaltySelectedBaseline


class LinearBaseline(PenaltySelectedBaseline):
    penalty_name = "alpha"

    def __init__(self, problem: Problem, alphas: list[float], seed: int, max_iter: int):
        super().__init__(problem, alphas)
        self.seed = seed
        self.max_iter = max_iter

    def _fit_one(self, train: Arrays, alpha: float):
        if self.task == "regression":
            return Ridge(alpha=alpha).fit(train.X, train.y)
        return LogisticRegression(C=1.0 / alpha, max_iter=self.max_iter, random_state=self.seed).fit(
            train.X, train.y.astype(int)
        )

    def _predict_with(self, fitted, X: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return fitted.predict(X).astype(np.float64)
        return fitted.predict_proba(X)[:, 1]

    @property
    def _coef(self) -> np.ndarray:
        return np.ravel(self.fitted.coef_).astype(np.float64)

    @property
    def intercept(self) -> float:
        return float(np.ravel(self.fitted.intercept_)[0])

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) * self._coef

    @property
    def n_params(self) -> int:
        return self._coef.size + 1


def build(cfg: DictConfig, problem: Problem) -> LinearBaseline:
    return LinearBaseline(problem, alphas=cfg.model.alphas, seed=cfg.seed, max_iter=cfg.model.max_iter)
