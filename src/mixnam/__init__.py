"""mixnam: the MixNAM paper's harness, and its models as scikit-learn estimators.

`from mixnam import MixNAMClassifier` (see `mixnam.estimators`). The estimators are imported on first
use, so `import mixnam.<module>` stays as light as that module (the command line starts quickly).

Importing mixnam before torch lets OpenMP's idle threads sleep rather than spin (`OMP_WAIT_POLICY=PASSIVE`
unless set already; OpenMP reads it once, when torch loads it): see `mixnam.training.resources`.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ESTIMATORS = ("MixNAMRegressor", "MixNAMClassifier", "MixNAMDRegressor", "MixNAMDClassifier", "MixNAMERegressor",
              "MixNAMEClassifier", "NAMRegressor", "NAMClassifier", "NeuralAdditiveRegressor",
              "NeuralAdditiveClassifier")
__all__ = list(ESTIMATORS)


def __getattr__(name: str):
    if name in ESTIMATORS:
        from mixnam import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'mixnam' has no attribute {name!r}")
