"""Additivity (paper Eq. 10-11): how additive a model is.

Additivity: for feature i the law of total variance splits Var(d y_hat / d x_i) into
E(Var(. | x_i)) + Var(E(. | x_i)); the share of the second term is how much of the derivative x_i
decides on its own; the model's additivity is the mean share over features (1 = strictly additive).
E(. | x_i) is estimated by binning x_i into quantile bins. Every row of a bin is evaluated with x_i
set to the bin's mean and its other features as they are, so a strictly additive model has exactly
one derivative per bin and scores 1 to float precision, while the rows keep the data's joint
distribution of the other features. All features are differentiated in one batched pass
(n copies of the rows, copy i with x_i binned).

Bound tightness (Eq. 12) lives in `mixnam.evaluation.tightness`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def quantile_bins(X: np.ndarray, n_bins: int) -> np.ndarray:
    """(rows, features) -> bin index per entry, from each column's quantiles (ties share a bin)."""
    X = np.asarray(X, dtype=np.float64)
    inner = np.quantile(X, np.linspace(0, 1, n_bins + 1)[1:-1], axis=0)  # (n_bins - 1, features)
    return (X[:, None, :] > inner[None]).sum(axis=1)


def group(ids: np.ndarray, values: np.ndarray, n_bins: int, reduce: np.ufunc, initial: float) -> np.ndarray:
    """Reduce `values` (rows, features) within each (bin, feature) cell -> (n_bins, features)."""
    n_features = values.shape[1]
    keys = (ids * n_features + np.arange(n_features)).ravel()
    out = np.full(n_bins * n_features, initial, dtype=np.float64)
    reduce.at(out, keys, values.ravel())
    return out.reshape(n_bins, n_features)


def _bin_means(ids: np.ndarray, values: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    counts = group(ids, np.ones_like(values), n_bins, np.add, 0.0)
    sums = group(ids, values, n_bins, np.add, 0.0)
    return sums / np.maximum(counts, 1), counts


def variance_shares(gradients: np.ndarray, ids: np.ndarray, n_bins: int) -> np.ndarray:
    """Per feature Var(E(g_i | bin of x_i)) / Var(g_i) for gradients g (rows, features) (Eq. 11's terms).

    The between-bin sum of squares is corrected for the spread that bin means show by chance
    (epsilon-squared: minus (bins - 1) x the within-bin mean square), so a few rows per bin do not
    inflate the share; with no within-bin spread (an additive model) nothing is subtracted.
    """
    means, counts = _bin_means(ids, gradients, n_bins)
    grand = gradients.mean(axis=0)
    n_rows, occupied = len(gradients), (counts > 0).sum(axis=0)
    between = (counts * (means - grand) ** 2).sum(axis=0)
    total = ((gradients - grand) ** 2).sum(axis=0)
    within_mean_square = (total - between).clip(0) / np.maximum(n_rows - occupied, 1)
    scale = np.maximum(n_rows * grand ** 2, np.finfo(np.float32).tiny)
    constant = total <= 1e-12 * scale  # a constant derivative (linear or unused feature) is additive
    share = (between - (occupied - 1) * within_mean_square) / np.where(constant, 1.0, total)
    return np.where(constant, 1.0, share.clip(0.0, 1.0))


def input_gradients(output: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray,
                    chunk_rows: int = 16_384) -> np.ndarray:
    """d output / d x for every row of X, in chunks (rows are independent in eval mode)."""
    grads = []
    for start in range(0, len(X), chunk_rows):
        x = torch.as_tensor(X[start:start + chunk_rows], dtype=torch.float32).requires_grad_(True)
        (grad,) = torch.autograd.grad(output(x).sum(), x)
        grads.append(grad.detach().double().numpy())
    return np.concatenate(grads) if grads else np.zeros_like(X, dtype=np.float64)


def additivity(output: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray, n_bins: int = 32,
               max_rows: int | None = 4096, seed: int = 0, budget: int = 2 ** 17) -> tuple[float, np.ndarray]:
    """Eq. 11 for any differentiable `output` (rows -> raw prediction) on rows X (model units).

    Uses at most `max_rows` rows, and fewer when features x rows would exceed `budget` (each row is
    differentiated once per feature: Year's 90 features get 1,456 rows). Returns the model's
    additivity and the per-feature shares.
    """
    X = np.asarray(X, dtype=np.float32)
    if max_rows is not None:
        max_rows = min(max_rows, max(256, budget // X.shape[1]))
    if max_rows is not None and len(X) > max_rows:
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))]
    n_rows, n_features = X.shape
    ids = quantile_bins(X, n_bins)
    centres, _ = _bin_means(ids, X.astype(np.float64), n_bins)
    stacked = np.broadcast_to(X, (n_features, n_rows, n_features)).copy()  # copy i has x_i binned
    diagonal = np.arange(n_features)
    stacked[diagonal, :, diagonal] = centres[ids, diagonal].T
    grads = input_gradients(output, stacked.reshape(-1, n_features), max(64, 2 ** 17 // n_features))
    own = grads.reshape(n_features, n_rows, n_features)[diagonal, :, diagonal].T  # (rows, features)
    shares = variance_shares(own, ids, n_bins)
    return float(shares.mean()), shares
