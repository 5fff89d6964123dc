"""Estimator registry: a model name -> the builder that turns (cfg, problem) into an `Estimator`.

Neural models train through `mixnam.training.lightning`; library models wrap their library in
`mixnam.models`. Builders are imported lazily so a missing optional library (nodegam) only matters
when that model is asked for. Every builder has the signature `build(cfg, problem) -> Estimator`
where `cfg` is the whole resolved run config (model, trainer, logger, seed, paths).
"""
from __future__ import annotations

import difflib
import importlib

from omegaconf import DictConfig

from mixnam.contracts import Estimator, Problem
from mixnam.models import MODELS, NEURAL
from mixnam.models.budget import with_budget_caps
from mixnam.training.constraints import check_constraint

_BUILDERS = {
    **{name: "mixnam.training.lightning:build" for name in NEURAL},
    "ebm": "mixnam.models.ebm:build",
    "eb2m": "mixnam.models.ebm:build",
    "xgboost": "mixnam.models.xgboost:build",
    "linear": "mixnam.models.linear:build",
    "spline": "mixnam.models.spline:build",
    "node": "mixnam.models.node:build",
    "nodegam": "mixnam.models.node:build",
    "nodega2m": "mixnam.models.node:build",
}


class UnknownModelError(ValueError):
    pass


def build_estimator(cfg: DictConfig, problem: Problem) -> Estimator:
    """Build the estimator named by `cfg.model.name` for this problem, within the profile's `budget_caps`."""
    name = cfg.model.name
    if name not in _BUILDERS:
        close = difflib.get_close_matches(name, MODELS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"unknown model {name!r}.{hint} Valid models: {', '.join(MODELS)}.")
    check_constraint(cfg)
    module_name, func = _BUILDERS[name].split(":")
    return getattr(importlib.import_module(module_name), func)(with_budget_caps(cfg), problem)
