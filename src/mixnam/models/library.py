"""What the library-backed baselines (EBM, XGBoost, linear, spline, NODE) share.

Every config under `conf/model/` for these models holds `name`, the library's own keyword arguments,
and a few keys of ours that steer the fit (listed per module). `library_kwargs` separates the two so
that a new library argument can be set from the command line (`model.<arg>=`) without code changes.

Additive baselines also share one explanation contract (`AdditiveBaseline`): per-term
`contributions(X)` whose row sum plus `intercept`, through the inverse link, equals `predict(X)`.
Linear and spline share the selection of their penalty on the validation split
(`PenaltySelectedBaseline`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from scipy.special import expit

from mixnam.contracts import Arrays, FitSummary, Problem

log = logging.getLogger(__name__)


def library_kwargs(cfg: DictConfig, own: Iterable[str] = ()) -> dict[str, Any]:
    """The model config as plain keyword arguments, minus `name` and the keys in `own`."""
    kwargs = OmegaConf.to_container(cfg.model, resolve=True)
    return {k: v for k, v in kwargs.items() if k != "name" and k not in set(own)}


class AdditiveBaseline:
    """Mixin for additive baselines: per-term contributions, intercept and shape functions.

    Subclasses set `task` and `feature_names` and implement `intercept` and `contributions`
    (plus `term_features` when terms are not one per feature, in order).
    """

    task: str
    feature_names: tuple[str, ...]

    @property
    def link(self) -> str:
        return "logit" if self.task == "classification" else "identity"

    def inverse_link(self, margin: np.ndarray) -> np.ndarray:
        """Margin (sum of terms + intercept) -> model units (probability for classification)."""
        margin = np.asarray(margin, dtype=np.float64)
        return expit(margin) if self.task == "classification" else margin

    @property
    def intercept(self) -> float:
        raise NotImplementedError

    @property
    def term_features(self) -> list[tuple[int, ...]]:
        """Feature indices of each term (one term per feature unless a model says otherwise)."""
        return [(i,) for i in range(len(self.feature_names))]

    @property
    def term_names(self) -> list[str]:
        return [" x ".join(self.feature_names[i] for i in f) for f in self.term_features]

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, terms) contributions on the margin scale."""
        raise NotImplementedError

    def shape_functions(self, X: np.ndarray, n_grid: int = 256, n_grid_pair: int = 32) -> dict[str, Any]:
        """Each term evaluated on a grid spanning the rows `X` (a 2-D grid for pairwise terms).

        Exact for additive models: a term depends only on its own features, so the other columns
        of the grid rows (held at the median of `X`) do not change its value.
        """
        X = np.asarray(X, dtype=np.float32)
        lo, hi, median = X.min(axis=0), X.max(axis=0), np.median(X, axis=0)
        grid = np.linspace(lo, hi, n_grid, dtype=np.float32)
        main = self.contributions(grid)
        terms = []
        for t, (name, features) in enumerate(zip(self.term_names, self.term_features)):
            if len(features) == 1:
                terms.append({"name": name, "features": list(features), "x": grid[:, features[0]], "scores": main[:, t]})
                continue
            a, b = features
            xa, xb = (np.linspace(lo[f], hi[f], n_grid_pair, dtype=np.float32) for f in (a, b))
            rows = np.tile(median, (n_grid_pair**2, 1))
            rows[:, a], rows[:, b] = np.repeat(xa, n_grid_pair), np.tile(xb, n_grid_pair)
            scores = self.contributions(rows)[:, t].reshape(n_grid_pair, n_grid_pair)
            terms.append({"name": name, "features": [a, b], "x": [xa, xb], "scores": scores})
        return {"link": self.link, "intercept": self.intercept, "terms": terms}


class PenaltySelectedBaseline(AdditiveBaseline):
    """An additive model refitted for each candidate penalty, keeping the best on the validation split.

    The harness selects every model on its validation split (paper protocol), so the regularisation
    of the linear and spline baselines is chosen the same way rather than by in-sample CV/GCV.
    Subclasses name the penalty (`penalty_name`) and implement `_fit_one` and `_predict_with`.
    """

    penalty_name: str

    def __init__(self, problem: Problem, penalties: Iterable[float]):
        self.problem = problem
        self.task = problem.task
        self.feature_names = problem.feature_names
        self.penalties = list(penalties)
        self.penalty: float | None = None
        self.fitted = None

    def _fit_one(self, train: Arrays, penalty: float) -> Any:
        raise NotImplementedError

    def _predict_with(self, fitted: Any, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, train: Arrays, val: Arrays) -> FitSummary:
        scores: dict[str, float] = {}
        best = None
        started = time.perf_counter()
        for done, penalty in enumerate(self.penalties, start=1):
            fitted = self._fit_one(train, penalty)
            scores[str(penalty)] = score = self.problem.primary(val.y, self._predict_with(fitted, val.X))
            if best is None or (score > best if self.problem.higher_is_better else score < best):
                best, self.penalty, self.fitted = score, penalty, fitted
            # one line per candidate: a spline search on Income runs for minutes and is otherwise silent
            log.info("%s %s = %g (%d/%d): validation %s %.4f, best %.4f (%s = %g), %.0f s so far",
                     type(self).__name__, self.penalty_name, penalty, done, len(self.penalties), self.problem.metric,
                     score, best, self.penalty_name, self.penalty, time.perf_counter() - started)
        return FitSummary(extra={self.penalty_name: self.penalty, f"val_by_{self.penalty_name}": scores})

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._predict_with(self.fitted, X)
