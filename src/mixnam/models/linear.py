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

from mixnam.models.library import AdditiveBaseline, select_on_val
from mixnam.training.protocol import Arrays, FitSummary, Problem


class LinearBaseline(AdditiveBaseline):
    def __init__(self, problem: Problem, alphas: list[float], seed: int, max_iter: int):
        self.problem = problem
        self.task = problem.task
        self.feature_names = problem.feature_names
        self.alphas = list(alphas)
        self.seed = seed
        self.max_iter = max_iter
        self.model = None
        self.alpha = None

    def _fit_one(self, train: Arrays, alpha: float):
        if self.task == "regression":
            return Ridge(alpha=alpha).fit(train.X, train.y)
        return LogisticRegression(C=1.0 / alpha, max_iter=self.max_iter, random_state=self.seed).fit(
            train.X, train.y.astype(int)
        )

    def _predict_with(self, model, X: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return model.predict(X).astype(np.float64)
        return model.predict_proba(X)[:, 1]

    def fit(self, train: Arrays, val: Arrays) -> FitSummary:
        self.alpha, self.model, scores = select_on_val(
            self.alphas, lambda a: self._fit_one(train, a), self.problem, val,
            lambda m: self._predict_with(m, val.X),
        )
        return FitSummary(extra={"alpha": self.alpha, "val_by_alpha": scores})

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._predict_with(self.model, X)

    @property
    def _coef(self) -> np.ndarray:
        return np.ravel(self.model.coef_).astype(np.float64)

    @property
    def intercept(self) -> float:
        return float(np.ravel(self.model.intercept_)[0])

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) * self._coef

    @property
    def n_params(self) -> int:
        return self._coef.size + 1


def build(cfg: DictConfig, problem: Problem) -> LinearBaseline:
    return LinearBaseline(problem, alphas=cfg.model.alphas, seed=cfg.seed, max_iter=cfg.model.max_iter)
