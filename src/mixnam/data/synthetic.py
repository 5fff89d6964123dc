"""The paper's simulation studies (Section 4.4, Appendix E) as generated datasets.

x1 ~ U(0, 1) carries a periodic effect sin(4 pi x1); binary switches x2.. in {-1, +1} decide its
sign. An additive model can only learn the average over the switches, MixNAM can route each row to
the mode its switches select, which is what Figures 4-7 show:

- `synthetic_unimodal`   (Eq. 13): y = sin(4 pi x1) + x2 + eps, additive by construction.
- `synthetic_multimodal` (Eq. 14): y = x2 sin(4 pi x1) + x2 + eps, two modes of x1.
- `synthetic_sparse`     (Eq. 17): as Eq. 14 with exactly `share` of the rows at x2 = 1 (25%, 5%, 1%).
- `synthetic_variability` (Eq. 20): y = eps + sum_{i=2}^{NC+1} T/NC x_i sin(4 pi x1), T = 64,
  NC switches, 2000 x NC rows.

eps ~ N(0, 0.1^2) everywhere. Each generator is `(seed, **options) -> (X, y)`; options come from
`conf/dataset/synthetic_*.yaml` (`options:`) and can be overridden on the command line, e.g.
`dataset.options.share=0.05` or `dataset.options.n_switches=8`. The split is the 70/10/20 holdout.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mixnam.data.datasets import DatasetSpec, register
from mixnam.errors import DataError

NOISE = 0.1


def _draw(seed: int, n_rows: int, n_switches: int = 1, share: float = 0.5):
    """x1 ~ U(0,1), switches in {-1,+1}; `share` is the exact fraction of +1 in every switch."""
    if not 0.0 < share < 1.0:
        raise DataError(f"share={share} must lie strictly between 0 and 1 (the fraction of rows with x2 = 1).")
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(0.0, 1.0, n_rows)
    positives = int(round(share * n_rows))
    base = np.where(np.arange(n_rows) < positives, 1.0, -1.0)
    switches = np.stack([rng.permutation(base) for _ in range(n_switches)], axis=1)
    noise = rng.normal(0.0, NOISE, n_rows)
    return x1, switches, noise


def _frame(x1: np.ndarray, switches: np.ndarray) -> pd.DataFrame:
    columns = {"x1": x1} | {f"x{i + 2}": switches[:, i] for i in range(switches.shape[1])}
    return pd.DataFrame(columns)


def wave(x1: np.ndarray) -> np.ndarray:
    """The periodic effect of x1 in every study."""
    return np.sin(4 * np.pi * np.asarray(x1, dtype=np.float64))


def unimodal(seed: int = 0, n_rows: int = 10_000) -> tuple[pd.DataFrame, np.ndarray]:
    x1, switches, noise = _draw(seed, n_rows)
    return _frame(x1, switches), wave(x1) + switches[:, 0] + noise


def multimodal(seed: int = 0, n_rows: int = 10_000, share: float = 0.5) -> tuple[pd.DataFrame, np.ndarray]:
    x1, switches, noise = _draw(seed, n_rows, share=share)
    x2 = switches[:, 0]
    return _frame(x1, switches), x2 * wave(x1) + x2 + noise


def variability(seed: int = 0, n_switches: int = 1, scale: float = 64.0,
                rows_per_switch: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    x1, switches, noise = _draw(seed, rows_per_switch * n_switches, n_switches)
    return _frame(x1, switches), noise + scale / n_switches * switches.sum(axis=1) * wave(x1)


def _spec(name: str, generator, n_features: int, **options) -> DatasetSpec:
    return DatasetSpec(name=name, task="regression", metric="rmse", protocol="generated", files=(), reader=None,
                       n_rows=None, n_features=n_features, generator=generator, options=options)


register(_spec("synthetic_unimodal", unimodal, 2))
register(_spec("synthetic_multimodal", multimodal, 2))
register(_spec("synthetic_sparse", multimodal, 2, share=0.25))
register(_spec("synthetic_variability", variability, 2, n_switches=1, scale=64.0))
