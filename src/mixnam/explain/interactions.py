"""Pairwise feature interactions of any model as plain data: main effects, pair synergies, the remainder.

Every method explains f(x) - f(b), the model's margin (standardised target, or logit) at a row x
against a baseline b, as main effects + pair interactions + a reported higher-order remainder:

- `synergy` (model-agnostic): the baseline-relative decomposition. With v(S) = f(x_S, b_rest),
  main_i = v({i}) - v({}) and pair_ij = v({i,j}) - v({i}) - v({j}) + v({}), the discrete mixed
  difference with every other feature at the baseline: the pure synergy of the pair. The remainder
  (three-way and higher synergies) is f(x) - f(b) minus the rest. 1 + n + n(n-1)/2 model calls a row.
- `shapley_taylor` (model-agnostic): the Shapley-Taylor interaction index of order 2 (Sundararajan et
  al., 2020): main_i = v({i}) - v({}) and pair_T = sum over S in N minus T of (2/n) / C(n-1, |S|) times
  the discrete mixed difference of v on T at S. It distributes every higher-order synergy over the
  pairs, so the remainder is zero (efficiency). Exact by enumerating the 2^n coalitions up to
  `max_exact` features; above that a Monte-Carlo mean over `n_samples` coalitions per pair drawn with
  those weights, with its standard error per row and pair in `standard_error` (the coalitions are
  shared by the rows, the error of each row's mean is its own).
- `integrated_hessians` (torch models): Janizek et al. (2021), Gamma_ij = (x_i - b_i)(x_j - b_j)
  times the integral of a b d2f/dx_i dx_j at b + ab(x - b) over a, b in [0, 1], by Gauss-Legendre
  quadrature; pair_ij = Gamma_ij + Gamma_ji, main_i = Gamma_ii, the remainder is the quadrature
  error. As every gradient method it has its own policy on monomials: x1 x2 gives half of its
  synergy to the pair and a quarter to each main effect. A ReLU network's Hessian is zero almost
  everywhere, so, as Janizek et al. do, it is computed on a copy with every ReLU replaced by
  SoftPlus_beta(z) = log(1 + exp(beta z)) / beta (`softplus_beta`, 10 by default: our choice, not the
  paper's; larger is closer to the ReLU network but needs more `n_steps`), and `delta` is that
  copy's f(x) - f(b). The remainder then goes to 0 as `n_steps` grows, wherever the model is smooth
  (top-K routing with K < C, MixNAM-E's, is not: its remainder stays).

Inputs: a torch module, a harness estimator (its module), a scikit-learn estimator of `mixnam.estimators`
(raw rows as `fit` takes them, preprocessed by the estimator; its network's logit or standardised
output; its column names), or any model with `predict` (its logit for classifiers). Rows with NaN/inf,
a column count other than the model's, a baseline that is not one value per feature and a `features`
list of another length are refused with a ValueError before any model call.

An additive model (NAM, MixNAM-D, EBM) gets exactly zero for every pair under every method (up to
float rounding). `matrix` (mean |pair| over the rows) is what runs record and heatmaps draw.
"""
from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from math import comb
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mixnam.errors import check_count
from mixnam.explain.shapes import save_npz
from mixnam.explain.view import evaluating, find_module
from mixnam.models.layers import ReLUDropout

METHODS = ("synergy", "shapley_taylor", "integrated_hessians")
MAX_EXACT = 12  # Shapley-Taylor enumerates 2^n coalitions up to this many features
SOFTPLUS_BETA = 10.0  # Integrated Hessians' smooth substitute for ReLU (our choice of beta)
BATCH = 8192


@dataclass
class Interactions:
    """One model's interactions on `rows` rows; arrays in the margin's units (model units)."""

    method: str
    features: list[str]
    baseline: np.ndarray  # (n,) in model units
    pairs: np.ndarray  # (P, 2) feature indices, i < j, in itertools.combinations order
    main: np.ndarray  # (rows, n)
    pair: np.ndarray  # (rows, P)
    remainder: np.ndarray  # (rows,) f(x) - f(b) - main - pairs
    delta: np.ndarray  # (rows,) f(x) - f(b)
    standard_error: np.ndarray | None = None  # (rows, P) of the sampled Shapley-Taylor pairs

    @property
    def matrix(self) -> np.ndarray:
        """(n, n) mean |pair interaction| over the rows, symmetric, zero diagonal."""
        n = len(self.features)
        matrix = np.zeros((n, n))
        strength = np.abs(self.pair).mean(axis=0)
        matrix[self.pairs[:, 0], self.pairs[:, 1]] = strength
        matrix[self.pairs[:, 1], self.pairs[:, 0]] = strength
        return matrix

    def top_pairs(self, k: int = 5) -> list[dict[str, Any]]:
        strength = np.abs(self.pair).mean(axis=0)
        order = np.argsort(-strength, kind="stable")[:k]
        return [{"pair": [self.features[i] for i in self.pairs[p]], "strength": float(strength[p])} for p in order]

    def summary(self, k: int = 5) -> dict[str, Any]:
        """What a run record keeps: the strongest pairs, the total pair strength and its share of |f(x) - f(b)|."""
        main, pair = np.abs(self.main).mean(axis=0).sum(), np.abs(self.pair).mean(axis=0).sum()
        rest = np.abs(self.remainder).mean()
        return {"method": self.method, "rows": len(self.delta), "top_pairs": self.top_pairs(k),
                "pair_strength": float(pair), "main_strength": float(main), "remainder_strength": float(rest),
                "pair_share": float(pair / max(main + pair + rest, 1e-300))}

    def save(self, path: str | Path) -> Path:
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)
                  if f.name not in ("method", "features") and getattr(self, f.name) is not None}
        return save_npz(path, {"method": self.method, "features": self.features}, arrays)

    @classmethod
    def load(cls, path: str | Path) -> Interactions:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            return cls(**meta, **{k: stored[k] for k in stored.files if k != "meta"})


# ------------------------------------------------------------------------------------ the model as f
def _softplus(module: nn.Module, beta: float) -> nn.Module:
    """`module` with every ReLU (nn.ReLU, the models' ReLUDropout) replaced by SoftPlus_beta, in place."""
    for name, child in module.named_children():
        if isinstance(child, (nn.ReLU, ReLUDropout)):
            setattr(module, name, nn.Softplus(beta))
        else:
            _softplus(child, beta)
    return module


def _torch_output(model: Any, softplus_beta: float | None = None) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The margin as a differentiable torch function, for torch modules and estimators holding one.

    It runs a float64 copy of the module (ReLUs made SoftPlus_beta when `softplus_beta` is given): mixed
    differences cancel up to float64 rounding (~1e-16), so an additive model's pairs read zero, not
    float32's ~1e-7."""
    module = find_module(model)
    if module is None:
        return None
    module = copy.deepcopy(module).double()
    if softplus_beta is not None:
        _softplus(module, softplus_beta)
    device = next(module.parameters(), torch.empty(0)).device

    def output(x: torch.Tensor) -> torch.Tensor:
        with evaluating(module):
            return module(x.to(device, torch.float64)).reshape(len(x))

    return output


def _numpy_output(model: Any, torch_output) -> Callable[[np.ndarray], np.ndarray]:
    """The margin on numpy rows: the torch function without gradients, else `predict` (a probability is
    turned back into its logit, the scale an additive classifier adds its terms on)."""
    if torch_output is not None:
        def margin(X: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return torch.cat([torch_output(torch.as_tensor(X[i:i + BATCH]))
                                  for i in range(0, len(X), BATCH)]).cpu().numpy()
        return margin
    if not hasattr(model, "predict"):
        raise TypeError(f"{type(model).__name__} has neither a torch module nor `predict`; interactions need one")
    problem = getattr(model, "problem", None)
    task = getattr(model, "task", None) or getattr(problem, "task", "regression")

    def predicted(X: np.ndarray) -> np.ndarray:
        p = np.concatenate([np.asarray(model.predict(X[i:i + BATCH]), np.float64) for i in range(0, len(X), BATCH)])
        if task != "classification":
            return p
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return np.log(p) - np.log1p(-p)

    return predicted


def _baseline(baseline: str | np.ndarray, X: np.ndarray) -> np.ndarray:
    if isinstance(baseline, str):
        choices = {"median": lambda: np.median(X, axis=0), "mean": lambda: X.mean(axis=0),
                   "zeros": lambda: np.zeros(X.shape[1])}
        if baseline not in choices:
            raise ValueError(f"baseline={baseline!r}: use one of {sorted(choices)} or an array of {X.shape[1]} values")
        return choices[baseline]().astype(np.float64)
    baseline = np.asarray(baseline, dtype=np.float64)
    if baseline.shape != (X.shape[1],):
        raise ValueError(f"baseline has shape {baseline.shape}; give one value per feature, shape ({X.shape[1]},), "
                         "in model units")
    if not np.isfinite(baseline).all():
        raise ValueError("baseline has NaN or inf; give finite values")
    return baseline


def _n_features(model: Any) -> int | None:
    """How many columns the model takes, where it says so (scikit-learn's attribute, the harness problem,
    the additive modules' terms)."""
    for source in (model, find_module(model)):
        problem = getattr(source, "problem", None)
        for count in (getattr(source, "n_features_in_", None), getattr(source, "n_features", None),
                      getattr(problem, "n_features", None)):
            if isinstance(count, (int, np.integer)):
                return int(count)
        terms = getattr(source, "term_features", None)
        if terms:
            return 1 + max(max(t) for t in terms)
    return None


def _rows(X: Any, model: Any) -> np.ndarray:
    """X as float64 (rows, features), checked against the model before any model call."""
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"X is not numeric ({error}); give the rows in model units, or pass a fitted mixnam "
                         "scikit-learn estimator, which preprocesses its raw rows itself") from None
    if X.ndim != 2 or X.shape[1] < 2 or not len(X):
        raise ValueError(f"X must be (rows, features) with at least 2 features and 1 row; got shape {X.shape}")
    expected = _n_features(model)
    if expected is not None and X.shape[1] != expected:
        raise ValueError(f"X has {X.shape[1]} columns but {type(model).__name__} takes {expected} features; give "
                         "the columns the model was fitted on, in its order")
    bad = ~np.isfinite(X)
    if bad.any():
        raise ValueError(f"X has NaN or inf in column(s) {np.flatnonzero(bad.any(axis=0)).tolist()} "
                         f"({int(bad.any(axis=1).sum())} rows); drop or fill those rows first")
    return X


def _coalition_values(f: Callable, X: np.ndarray, baseline: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """v(S) = f(x_S, b_rest) for every row and coalition mask: (rows, M), in chunks of about 1M points."""
    step = max(1, 2**20 // len(masks))
    parts = []
    for start in range(0, len(X), step):
        rows = X[start:start + step]
        points = np.where(masks[None, :, :], rows[:, None, :], baseline[None, None, :]).reshape(-1, X.shape[1])
        parts.append(f(points).reshape(len(rows), len(masks)))
    return np.concatenate(parts)


def _singleton_masks(n: int) -> np.ndarray:
    """The empty coalition, each feature alone and all features: rows 0, 1..n, n+1."""
    return np.vstack([np.zeros((1, n), bool), np.eye(n, dtype=bool), np.ones((1, n), bool)])


# --------------------------------------------------------------------------------------------- methods
def _synergy(f, X, baseline, pairs):
    n = X.shape[1]
    pair_masks = np.zeros((len(pairs), n), bool)
    pair_masks[np.arange(len(pairs))[:, None], pairs] = True
    v = _coalition_values(f, X, baseline, np.vstack([_singleton_masks(n), pair_masks]))
    empty, single, full, both = v[:, 0], v[:, 1:n + 1], v[:, n + 1], v[:, n + 2:]
    pair = both - single[:, pairs[:, 0]] - single[:, pairs[:, 1]] + empty[:, None]
    return single - empty[:, None], pair, full - empty, None


def _shapley_taylor_exact(f, X, baseline, pairs):
    """Exact order-2 index: pair values = v(all 2^n coalitions) @ a fixed (2^n, P) coefficient matrix."""
    n = X.shape[1]
    codes = np.arange(2**n)
    bits = (codes[:, None] >> np.arange(n)) & 1  # (2^n, n)
    coefficients = np.zeros((2**n, len(pairs)))
    size = bits.sum(axis=1)
    for p, (i, j) in enumerate(pairs):  # builds the linear map once; the model is called once for all coalitions
        S = codes[(bits[:, i] == 0) & (bits[:, j] == 0)]
        weight = (2.0 / n) / np.array([comb(n - 1, s) for s in size[S]])
        for target, sign in ((S | 1 << i | 1 << j, 1.0), (S | 1 << i, -1.0), (S | 1 << j, -1.0), (S, 1.0)):
            np.add.at(coefficients[:, p], target, sign * weight)
    v = _coalition_values(f, X, baseline, bits.astype(bool))
    main = v[:, 1 << np.arange(n)] - v[:, :1]
    return main, v @ coefficients, v[:, -1] - v[:, 0], None


def _shapley_taylor_sampled(f, X, baseline, pairs, n_samples: int, seed: int):
    """Monte-Carlo order-2 index: coalitions S of the other features drawn with the index's weights
    ((2/n) / C(n-1, |S|): |S| = s with probability 2 (n-1-s) / (n (n-1)), then S uniform of that size)."""
    n, P = X.shape[1], len(pairs)
    rng = np.random.default_rng(seed)
    sizes = np.arange(n - 1)
    sizes = rng.choice(sizes, size=(P, n_samples), p=2 * (n - 1 - sizes) / (n * (n - 1)))
    in_pair = np.zeros((P, n), bool)
    in_pair[np.arange(P)[:, None], pairs] = True
    keys = np.where(in_pair[:, None, :], np.inf, rng.random((P, n_samples, n)))  # the pair's features rank last
    S = keys.argsort(axis=-1).argsort(axis=-1) < sizes[..., None]  # the `size` lowest keys: S uniform of that size
    with_i, with_j = S.copy(), S.copy()
    with_i[np.arange(P), :, pairs[:, 0]] = True
    with_j[np.arange(P), :, pairs[:, 1]] = True
    masks = np.stack([with_i | with_j, with_i, with_j, S], axis=2).reshape(-1, n)  # (P * m * 4, n)
    v = _coalition_values(f, X, baseline, np.vstack([_singleton_masks(n), masks]))
    draws = v[:, n + 2:].reshape(len(X), P, n_samples, 4) @ np.array([1.0, -1.0, -1.0, 1.0])
    main = v[:, 1:n + 1] - v[:, :1]
    error = draws.std(axis=-1, ddof=1) / np.sqrt(n_samples)
    return main, draws.mean(axis=-1), v[:, n + 1] - v[:, 0], error


def _integrated_hessians(output, X, baseline, pairs, n_steps: int):
    """Gamma (Janizek et al.) by an n_steps x n_steps Gauss-Legendre rule on (a, b); exact for polynomials
    of low degree along the path. Each Hessian row is one extra backward pass (explanation, not training)."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    nodes, weights = (nodes + 1) / 2, weights / 2
    ab = np.outer(nodes, nodes).ravel()  # the path position a b
    w = np.outer(weights, weights).ravel()
    n = X.shape[1]
    d = X - baseline  # (rows, n)
    first, second = np.zeros((len(X), n)), np.zeros((len(X), n, n))
    points = (baseline[None, None, :] + ab[None, :, None] * d[:, None, :]).reshape(-1, n)
    chunk = max(1, BATCH // len(ab)) * len(ab)
    for start in range(0, len(points), chunk):
        x = torch.as_tensor(points[start:start + chunk]).requires_grad_(True)
        with torch.enable_grad():
            grad = torch.autograd.grad(output(x).sum(), x, create_graph=True)[0]
            hessian = torch.stack([torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True, allow_unused=True)[0]
                                   if grad.requires_grad else torch.zeros_like(x) for i in range(n)], dim=1)
        hessian = torch.nan_to_num(hessian).detach().double().numpy().reshape(-1, len(ab), n, n)
        rows = slice(start // len(ab), start // len(ab) + len(hessian))
        first[rows] = np.einsum("q,rqi->ri", w, grad.detach().double().numpy().reshape(-1, len(ab), n))
        second[rows] = np.einsum("q,rqij->rij", w * ab, hessian)
    gamma = second * d[:, :, None] * d[:, None, :]
    main = d * first + np.einsum("rii->ri", gamma)
    pair = gamma[:, pairs[:, 0], pairs[:, 1]] + gamma[:, pairs[:, 1], pairs[:, 0]]
    delta = _numpy_output(None, output)(X) - _numpy_output(None, output)(baseline[None])[0]
    return main, pair, delta, None


def interactions(model: Any, X: Any, baseline: str | np.ndarray = "median", method: str = "synergy", *,
                 features: list[str] | None = None, max_rows: int | None = 256, max_exact: int = MAX_EXACT,
                 n_samples: int = 64, n_steps: int = 8, softplus_beta: float = SOFTPLUS_BETA,
                 seed: int = 0) -> Interactions:
    """Main effects and pairwise interactions of `model` on the rows `X` (model units) against `baseline`.

    `model`: a torch module, a neural estimator, a fitted `mixnam.estimators` estimator (then `X` is its
    raw rows, a DataFrame or array as `predict` takes them), or any estimator with `predict` (library
    models); `X`: an array, or a LoadedSplit (its test rows). `baseline`: "median" | "mean" | "zeros"
    of the rows in model units, or such values. `max_rows` rows are drawn (seeded) from `X` to bound the
    cost. `softplus_beta`: Integrated Hessians' SoftPlus for ReLU (module docstring).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; use one of {', '.join(METHODS)}")
    if not softplus_beta > 0:
        raise ValueError(f"softplus_beta={softplus_beta} must be positive (larger: closer to ReLU)")
    check_count("max_rows", max_rows, 1, "the rows drawn from X", optional=True)
    check_count("max_exact", max_exact, 0, "the most features Shapley-Taylor enumerates exactly")
    check_count("n_samples", n_samples, 1, "Shapley-Taylor's sampled permutations")
    check_count("n_steps", n_steps, 1, "Integrated Hessians' quadrature steps")
    check_count("seed", seed, 0, "the seed of the row draw and the sampled permutations")
    if hasattr(model, "model_inputs"):  # a scikit-learn estimator: its network, on its preprocessed rows
        model, X, names = model.model_inputs(X)
        features = features or names
    elif hasattr(X, "test") and hasattr(X, "problem"):
        features = features or list(X.problem.feature_names)
        X = X.test.X
    X = _rows(X, model)
    n = X.shape[1]
    features = list(features or getattr(model, "feature_names", None) or [f"x{i}" for i in range(n)])
    if len(features) != n:
        raise ValueError(f"features has {len(features)} names but X has {n} columns; give one name per column")
    if len(set(features)) != n:
        repeated = sorted({f for f in features if features.count(f) > 1})
        raise ValueError(f"features repeats {repeated}; give each column its own name")
    if max_rows is not None and len(X) > max_rows:
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))]
    b = _baseline(baseline, X)
    pairs = np.array(list(itertools.combinations(range(n), 2)), dtype=np.int64)
    if method == "integrated_hessians":
        torch_output = _torch_output(model, softplus_beta)
        if torch_output is None:
            raise TypeError(f"integrated_hessians needs a differentiable (torch) model; {type(model).__name__} is "
                            "not one: use method='synergy' or 'shapley_taylor'")
        main, pair, delta, error = _integrated_hessians(torch_output, X, b, pairs, n_steps)
    else:
        f = _numpy_output(model, _torch_output(model))
        if method == "synergy":
            main, pair, delta, error = _synergy(f, X, b, pairs)
        elif n <= max_exact:
            main, pair, delta, error = _shapley_taylor_exact(f, X, b, pairs)
        else:
            main, pair, delta, error = _shapley_taylor_sampled(f, X, b, pairs, n_samples, seed)
    remainder = delta - main.sum(axis=1) - pair.sum(axis=1)
    return Interactions(method, features, b, pairs, main, pair, remainder, delta, error)
