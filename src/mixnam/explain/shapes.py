"""Shape functions as plain data: what a model says each feature contributes, in the feature's own units.

Per feature (paper Section 4.2, Figure 3):
- `grid`: values in original units (categories for categorical features) and the mean-centred
  `contribution` on it: the exact term for additive models, E(o_i | x_i) from the real rows for the
  MixNAM family, whose contribution also depends on the other features through the router;
- `upper`/`lower` (Eq. 9) and the per-expert curves `experts` (Figure 5) for the MixNAM family.
  A feature's experts see only that feature, so all features' grids go through the model in ONE
  batch whose column i is feature i's grid;
- `rows_x`/`rows_contribution`: real rows and their routed contributions (the dots of Figure 3),
  with the bounds at each row (`rows_upper`/`rows_lower`);
- `density`: the data's normalised density over `density_edges` (the bars behind the curves).
Everything is centred by the mean routed contribution over the rows, so curves, bounds and dots
share one axis. Plots are drawn from this data by `mixnam.explain.plots`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from mixnam.errors import check_count
from mixnam.explain.view import ModelView, bounds, view

FEW_VALUES = 12  # numeric features with at most this many distinct values are drawn value by value


@dataclass
class ShapeFunction:
    feature: str
    categorical: bool
    grid: np.ndarray  # (G,) original units
    contribution: np.ndarray  # (G,) mean-centred
    rows_x: np.ndarray  # (N,) real rows, original units
    rows_contribution: np.ndarray  # (N,) their (routed) contributions, mean-centred
    density_edges: np.ndarray  # (D+1,) bin edges over the range plots show; discrete features: the D values
    density: np.ndarray  # (D,) normalised to a maximum of 1
    upper: np.ndarray | None = None  # (G,) Eq. 9, MixNAM family only
    lower: np.ndarray | None = None
    experts: np.ndarray | None = None  # (G, C)
    rows_upper: np.ndarray | None = None  # (N,) bounds at each row's value
    rows_lower: np.ndarray | None = None


class ShapeFunctions:
    """Shape functions of one model, indexable by feature name; saved as one .npz beside the run."""

    def __init__(self, model: str, shapes: list[ShapeFunction]):
        self.model, self.shapes = model, shapes

    def __iter__(self) -> Iterator[ShapeFunction]:
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, feature: str | int) -> ShapeFunction:
        if isinstance(feature, int):
            return self.shapes[feature]
        for shape in self.shapes:
            if shape.feature == feature:
                return shape
        raise KeyError(f"no feature {feature!r}; features: {[s.feature for s in self.shapes]}")

    @property
    def is_mixture(self) -> bool:
        return bool(self.shapes) and self.shapes[0].upper is not None

    def save(self, path: str | Path) -> Path:
        meta = {"model": self.model, "features": [s.feature for s in self.shapes],
                "categorical": [s.categorical for s in self.shapes]}
        arrays = {f"{j}/{f.name}": np.asarray(getattr(s, f.name)) for j, s in enumerate(self.shapes)
                  for f in fields(ShapeFunction) if f.name not in ("feature", "categorical")
                  and getattr(s, f.name) is not None}
        return save_npz(path, meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "ShapeFunctions":
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            shapes = [ShapeFunction(feature=name, categorical=cat,
                                    **{k.split("/", 1)[1]: stored[k] for k in stored.files if k.startswith(f"{j}/")})
                      for j, (name, cat) in enumerate(zip(meta["features"], meta["categorical"]))]
        return cls(meta["model"], shapes)


def save_npz(path: str | Path, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Arrays and a JSON `meta` in one compressed .npz, written to a temporary file and renamed (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)
    return path


def robust_range(values: np.ndarray, tail: float = 1e-3) -> tuple[float, float]:
    """The range holding all but the outer `tail` of the data on each side: what plots show, so a few
    extreme rows (AveOccup up to 1,243 on Housing) do not squeeze the rest into one bar."""
    low, high = np.quantile(values.astype(np.float64), [tail, 1 - tail])
    return (float(low), float(high)) if high > low else (float(values.min()), float(values.max()))


def feature_grid(values: pd.Series, categorical: bool, size: int) -> np.ndarray:
    """Categories; every distinct value if few; else an even grid merged with the data's quantiles, so
    the curve is smooth where data is dense and still spans the sparse tails."""
    if categorical:
        return np.asarray(sorted(values.astype(str).unique()))
    values = values.to_numpy(dtype=np.float64)
    distinct = np.unique(values)
    if len(distinct) <= size:
        return distinct
    even = np.linspace(*robust_range(values), size // 2)
    return np.unique(np.concatenate([even, np.quantile(values, np.linspace(0, 1, size - size // 2))]))


def grid_frame(X: pd.DataFrame, grids: list[np.ndarray]) -> pd.DataFrame:
    """One frame whose column i is feature i's grid (shorter grids padded with their last value)."""
    size = max(len(g) for g in grids)
    padded = {c: pd.Series(np.concatenate([g, np.repeat(g[-1:], size - len(g))])) for c, g in zip(X.columns, grids)}
    return pd.DataFrame({c: v if pd.api.types.is_numeric_dtype(X[c]) else v.astype(X[c].dtype)
                         for c, v in padded.items()})


def _nearest(grid: np.ndarray, x: np.ndarray, categorical: bool) -> np.ndarray:
    if categorical:
        return np.searchsorted(grid, x.astype(str))
    return np.clip(np.searchsorted((grid[1:] + grid[:-1]) / 2, x), 0, len(grid) - 1)


def conditional_mean(grid: np.ndarray, x: np.ndarray, values: np.ndarray, categorical: bool) -> np.ndarray:
    """E(values | x) at each grid point from the rows nearest to it; empty points interpolated."""
    index = _nearest(grid, x, categorical)
    counts = np.bincount(index, minlength=len(grid))
    means = np.bincount(index, weights=values, minlength=len(grid)) / np.maximum(counts, 1)
    seen = counts > 0
    return np.interp(np.arange(len(grid)), np.flatnonzero(seen), means[seen]) if seen.any() else means


def is_discrete(grid: np.ndarray, categorical: bool) -> bool:
    """Categories, or so few values (a binary switch) that each is shown on its own."""
    return categorical or len(grid) <= FEW_VALUES


def density(grid: np.ndarray, x: np.ndarray, categorical: bool, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised counts: per grid value for discrete features (edges = the values), else a histogram."""
    if is_discrete(grid, categorical):
        counts = np.bincount(_nearest(grid, x, categorical), minlength=len(grid)).astype(np.float64)
        edges = grid
    else:
        counts, edges = np.histogram(x.astype(np.float64), bins=n_bins, range=robust_range(x))
    return edges, counts / max(counts.max(), 1)


def _raw_rows(data: Any, max_rows: int | None, seed: int) -> tuple[pd.DataFrame, Callable, tuple[str, ...]]:
    """(raw rows, raw -> model-unit transform, categorical columns) from a LoadedSplit or a DataFrame."""
    if hasattr(data, "preprocessor"):
        X, transform, categorical = data.X, data.preprocessor.transform, tuple(data.problem.categorical)
    else:
        X = data
        categorical = tuple(c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]))
        transform = lambda frame: frame.to_numpy(dtype=np.float32)  # noqa: E731
    if max_rows is not None and len(X) > max_rows:
        X = X.iloc[np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))]
    return X, transform, categorical


def shape_functions(model: Any, data: Any, grid_size: int = 128, max_rows: int | None = 50_000,
                    density_bins: int = 64, seed: int = 0) -> ShapeFunctions:
    """Shape functions of `model` (module, estimator or ModelView) over `data`'s rows.

    `data` is a LoadedSplit (raw rows in original units and the fitted preprocessor) or a raw
    DataFrame already in model units. `max_rows` caps the real rows drawn as dots.
    """
    check_count("grid_size", grid_size, 2, "points on each numeric feature's grid")
    check_count("max_rows", max_rows, 1, "the real rows drawn as dots", optional=True)
    check_count("density_bins", density_bins, 1, "bins of the data-density strip")
    check_count("seed", seed, 0, "the seed of the row draw")
    X, transform, categorical = _raw_rows(data, max_rows, seed)
    model_view: ModelView = view(model, X.shape[1])
    if model_view.terms is None:
        raise TypeError(f"{model_view.name} is not additive (no per-feature contributions); shape functions need "
                        "an additive or MixNAM-family model. Its additivity can still be measured.")
    X_model = transform(X)
    grids = [feature_grid(X[c], c in categorical, grid_size) for c in X.columns]
    G_model = transform(grid_frame(X, grids))
    rows = model_view.terms(X_model)  # (N, n) routed contributions
    centre = rows.mean(axis=0)
    mixture = {}
    if model_view.is_mixture:
        o_grid, _ = model_view.experts(G_model)
        o_rows, _ = model_view.experts(X_model)
        centred = o_grid - centre[None, :, None]
        mixture = {"experts": centred, "bounds": bounds(centred, model_view.bound_k),
                   "rows_bounds": bounds(o_rows - centre[None, :, None], model_view.bound_k)}
    else:
        on_grid = model_view.terms(G_model) - centre
    shapes = []
    for i, (column, grid) in enumerate(zip(X.columns, grids)):
        is_cat, x, routed = column in categorical, X[column].to_numpy(), rows[:, i] - centre[i]
        g = len(grid)
        curve = conditional_mean(grid, x, routed, is_cat) if mixture else on_grid[:g, i]
        edges, dens = density(grid, x, is_cat, density_bins)
        extra = {}
        if mixture:
            (upper, lower), (row_upper, row_lower) = mixture["bounds"], mixture["rows_bounds"]
            extra = dict(upper=upper[:g, i], lower=lower[:g, i], experts=mixture["experts"][:g, i],
                         rows_upper=row_upper[:, i], rows_lower=row_lower[:, i])
        shapes.append(ShapeFunction(str(column), is_cat, grid, curve, x.astype(str) if is_cat else x.astype(np.float64),
                                    routed, edges, dens, **extra))
    return ShapeFunctions(model_view.name, shapes)
