"""The decoy dataset (issue 15): a feature that leaks the label in train and validation, noise in test.

Four real features x1..x4 ~ N(0, 1) and y = x1 + sin(2 x2) + x3 x4 / 2 + eps, eps ~ N(0, 0.3^2);
the fifth column `decoy` is y + N(0, 0.1^2) on the rows of the training and validation sets, but an
independent draw with y's mean and spread on the test rows (the fixed 70/10/20 holdout split of
`mixnam.data.splits`, which the generator knows). A model that leans on the decoy validates well
and fails on test. `leak=false` makes the decoy noise everywhere: the reference a model trained
without the decoy reaches (`dataset.options.leak=false`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mixnam.data.datasets import DatasetSpec, register
from mixnam.data.splits import holdout

NOISE, DECOY_NOISE = 0.3, 0.1


def decoy(seed: int = 0, n_rows: int = 4000, leak: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, 4))
    y = x[:, 0] + np.sin(2 * x[:, 1]) + x[:, 2] * x[:, 3] / 2 + rng.normal(0.0, NOISE, n_rows)
    noise = rng.normal(y.mean(), y.std(), n_rows)  # what the decoy is where it does not leak
    leaked = y + rng.normal(0.0, DECOY_NOISE, n_rows)
    column = noise.copy()
    if leak:
        test = holdout(n_rows).test
        column = leaked
        column[test] = noise[test]
    frame = pd.DataFrame(x, columns=["x1", "x2", "x3", "x4"])
    frame["decoy"] = column
    return frame, y


register(DatasetSpec(name="decoy", task="regression", metric="rmse", protocol="generated", files=(), reader=None,
                     n_rows=None, n_features=5, generator=decoy, options={"n_rows": 4000, "leak": True}))
