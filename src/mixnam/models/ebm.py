"""EBM / EB2M baselines: interpret's Explainable Boosting Machine without / with pairwise terms.

Every key of the model config except `name` and `bag_fraction` is passed to
`ExplainableBoostingRegressor` / `ExplainableBoostingClassifier`; unset keys keep interpret's own
defaults (which differ between the two classes). `ebm` sets `interactions: 0`; `eb2m` keeps
interpret's default number of automatically detected pairs.

Validation: interpret normally carves a random `validation_size` out of the training rows for each
outer bag. Here its `bags` argument is used instead: every outer bag early-stops on the harness's
validation split and trains on a random `bag_fraction` of the training rows, so bagging still
averages differently sampled models while selection uses the same rows as every other model.

`n_params` counts the fitted bin scores of all terms (missing/unknown bins included) plus the
intercept.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from interpret.glassbox import (
    ExplainableBoostingClassifier,
    ExplainableBoostingRegressor,
)
from omegaconf import DictConfig

from mixnam.contracts import Arrays, FitSummary, Problem
from mixnam.models.library import AdditiveBaseline, library_kwargs


class EBMBaseline(AdditiveBaseline):
    def __init__(self, problem: Problem, seed: int, bag_fraction: float, **params):
        self.task = problem.task
        self.feature_names = problem.feature_names
        self.seed = seed
        self.bag_fraction = bag_fraction
        cls = ExplainableBoostingRegressor if self.task == "regression" else ExplainableBoostingClassifier
        # Inputs are already numeric (categoricals target-encoded), as for the neural models.
        self.model = cls(
            feature_names=list(problem.feature_names),
            feature_types=["continuous"] * problem.n_features,
            random_state=seed,
            **params,
        )

    def _bags(self, n_train: int, n_val: int) -> np.ndarray:
        """(rows, outer_bags) in interpret's convention: 1 train, -1 validation, 0 left out."""
        rng = np.random.default_rng(self.seed)
        bags = np.full((n_train + n_val, self.model.outer_bags), -1, dtype=np.int8)
        bags[:n_train] = rng.random((n_train, self.model.outer_bags)) < self.bag_fraction
        return bags

    def fit(self, train: Arrays, val: Arrays) -> FitSummary:
        X = np.vstack([train.X, val.X])
        y = np.concatenate([train.y, val.y])
        if self.task == "classification":
            y = y.astype(int)
        self.model.fit(X, y, bags=self._bags(len(train.y), len(val.y)))
        rounds = np.asarray(self.model.best_iteration_)
        return FitSummary(
            best_epoch=int(rounds.max()),
            extra={"epoch_unit": "boosting round", "best_rounds_per_stage_and_bag": rounds.tolist(),
                   "n_terms": len(self.model.term_names_)},
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return self.model.predict(X).astype(np.float64)
        return self.model.predict_proba(X)[:, 1]

    @property
    def intercept(self) -> float:
        return float(np.ravel(self.model.intercept_)[0])

    @property
    def term_features(self) -> list[tuple[int, ...]]:
        return [tuple(f) for f in self.model.term_features_]

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return self.model.eval_terms(X)

    def shape_functions(self, X: np.ndarray | None = None, n_grid: int | None = None) -> dict[str, Any]:
        """interpret's own global explanation as plain data: per term its bin edges and scores.

        Univariate terms give `x` (bin edges, one more than scores) and `scores` (+ `lower`/`upper`
        bounds across outer bags); pairs give `x` as [left edges, right edges] and a 2-D `scores`.
        `X` and `n_grid` are accepted for a uniform call signature and unused: bins are the model's.
        """
        explanation = self.model.explain_global()
        terms = []
        for i, (name, features) in enumerate(zip(self.term_names, self.term_features)):
            data = explanation.data(i)
            term = {"name": name, "features": list(features), "scores": np.asarray(data["scores"])}
            if len(features) == 1:
                term["x"] = np.asarray(data["names"], dtype=np.float64)
                term["lower"] = np.asarray(data["lower_bounds"])
                term["upper"] = np.asarray(data["upper_bounds"])
            else:
                term["x"] = [np.asarray(data["left_names"], dtype=np.float64), np.asarray(data["right_names"], dtype=np.float64)]
            terms.append(term)
        return {"link": self.link, "intercept": self.intercept, "terms": terms}

    @property
    def n_params(self) -> int:
        return int(sum(scores.size for scores in self.model.term_scores_)) + 1


def build(cfg: DictConfig, problem: Problem) -> EBMBaseline:
    return EBMBaseline(
        problem, seed=cfg.seed, bag_fraction=cfg.model.bag_fraction, **library_kwargs(cfg, own=("bag_fraction",))
    )
