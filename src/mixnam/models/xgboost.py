"""XGBoost baseline (black box): gradient-boosted trees with early stopping on the validation split.

Every key of the model config except `name` is passed to `XGBRegressor` / `XGBClassifier`, so any
XGBoost parameter can be set with `model.<param>=`. `early_stopping_rounds` watches the validation
split; `eval_metric` defaults to the harness's selection metric (RMSE, or AUC for classification).
Prediction uses the best iteration.

`n_params` counts the leaves (fitted output values) of the trees up to the best iteration.
"""
from __future__ import annotations

import numpy as np
from omegaconf import DictConfig, OmegaConf
from xgboost import XGBClassifier, XGBRegressor

from mixnam.contracts import Arrays, FitSummary, Problem
from mixnam.devices import run_device
from mixnam.models.library import library_kwargs


class XGBoostBaseline:
    def __init__(self, problem: Problem, seed: int, **params):
        self.task = problem.task
        cls = XGBRegressor if self.task == "regression" else XGBClassifier
        params.setdefault("eval_metric", "rmse" if self.task == "regression" else "auc")
        self.model = cls(random_state=seed, **params)

    def _target(self, y: np.ndarray) -> np.ndarray:
        return y if self.task == "regression" else y.astype(int)

    def fit(self, train: Arrays, val: Arrays) -> FitSummary:
        self.model.fit(
            train.X, self._target(train.y), eval_set=[(val.X, self._target(val.y))], verbose=False
        )
        curve = next(iter(self.model.evals_result()["validation_0"].values()))
        return FitSummary(best_epoch=self._best_iteration, epochs_run=len(curve), extra={"epoch_unit": "boosting round"})

    @property
    def _best_iteration(self) -> int:
        return int(getattr(self.model, "best_iteration", self.model.get_booster().num_boosted_rounds() - 1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return self.model.predict(X).astype(np.float64)
        return self.model.predict_proba(X)[:, 1].astype(np.float64)

    @property
    def n_params(self) -> int:
        used = self.model.get_booster()[: self._best_iteration + 1]
        return sum(line.count("leaf=") for line in used.get_dump())


def build(cfg: DictConfig, problem: Problem) -> XGBoostBaseline:
    """XGBoost trains on the GPU when the run asks for one (`trainer=gpu`), unless `model.device` says otherwise."""
    params = library_kwargs(cfg)
    params.setdefault("device", run_device(str(OmegaConf.select(cfg, "trainer.accelerator", default="cpu"))))
    return XGBoostBaseline(problem, seed=cfg.seed, **params)
