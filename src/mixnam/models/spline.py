"""Spline GAM baseline: pygam's LinearGAM / LogisticGAM with one penalised B-spline term per feature.

The paper's "Spline" row, as in NODE-GAM's baseline (`nodegam.gams.MySpline`: 50 splines per
feature, up to 500 PIRLS iterations, smoothing penalty searched on a log grid; a profile's
`budget_caps` lower the iterations). NODE-GAM searches the penalty with pygam's in-sample GCV/UBRE; here
it is picked from `model.lams` on the validation split like every other model of the harness.

Contributions are pygam's partial dependences (the terms of the linear predictor); their sum plus
the intercept coefficient, through the link, is the prediction. `n_params` counts the spline
coefficients plus the intercept.
"""
from __future__ import annotations

import functools
import operator

import numpy as np
from omegaconf import DictConfig
from pygam import LinearGAM, LogisticGAM, s

from mixnam.contracts import Arrays, Problem
from mixnam.models.library import PenaltySelectedBaseline


class SplineBaseline(PenaltySelectedBaseline):
    penalty_name = "lam"

    def __init__(self, problem: Problem, lams: list[float], n_splines: int, max_iter: int):
        super().__init__(problem, lams)
        self.n_splines = n_splines
        self.max_iter = max_iter

    def _fit_one(self, train: Arrays, lam: float):
        # Fresh terms per fit: pygam stores fitted knots on the term objects.
        terms = functools.reduce(operator.add, [s(i, n_splines=self.n_splines) for i in range(train.X.shape[1])])
        cls = LinearGAM if self.task == "regression" else LogisticGAM
        return cls(terms, lam=lam, max_iter=self.max_iter).fit(train.X, train.y)

    def _predict_with(self, gam, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return gam.predict(X) if self.task == "regression" else gam.predict_proba(X)

    @property
    def intercept(self) -> float:
        return float(self.fitted.coef_[-1])  # pygam appends the intercept term last

    def contributions(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.stack([self.fitted.partial_dependence(term=i, X=X) for i in range(X.shape[1])], axis=1)

    @property
    def n_params(self) -> int:
        return int(self.fitted.coef_.size)


def build(cfg: DictConfig, problem: Problem) -> SplineBaseline:
    m = cfg.model
    return SplineBaseline(problem, lams=m.lams, n_splines=m.n_splines, max_iter=int(m.max_iter))
