"""Bound tightness (paper Eq. 12): how much of its bounds [l_i, u_i] a feature's routed output can reach.

Eq. 12 is E over x_i of [max(o_i | x_i) - min(o_i | x_i)] / [upper(o_i | x_i) - lower(o_i | x_i)], with o_i
the routed contribution of feature i and u_i, l_i the max / min over its experts (Eq. 9). The paper does
not say what "| x_i" means and the authors' code does not compute it (issue 26), so each reading is an
estimator here, one function each on plain arrays, and every MixNAM-family record keeps them all:

- `tightness_binned`: the rows that share one of 32 quantile bins of x_i (test rows), per-bin ratio;
- `tightness_position`: each row placed inside its own bounds, the positions' spread per bin;
- interventional: x_i = v imposed on every context row (by default every row of the data set), so the
  router sees every context the data holds at that value; `interventional_extremes` gives, per value v
  of a quantile grid of x_i, the max and min of o_i over the context rows and the bounds at v, and three
  readings take the ratio over them: per grid value (`tightness_interventional_value`), over the whole
  grid (`..._range`) or per block of consecutive grid values (`..._blocks`, 4 blocks of 16: x_i's quartiles).

`PRINCIPAL` is the reading recorded as `tightness` (Table 3's value). Cells (bins, values, blocks) whose
bounds have collapsed (all experts agree) are perfectly tight (1), the limit the paper reports at λ = 100.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch

from mixnam.evaluation.additivity import group, quantile_bins

COLLAPSED = 1e-6  # bound width, relative to the contribution's magnitude, below which bounds have met
PRINCIPAL = "tightness_interventional_range"  # chosen on paper-budget runs over λ: docs/tightness.md
N_BINS, GRID_SIZE, N_BLOCKS = 32, 64, 4
BIN_COUNTS = (16, 32, 64)  # `tightness_binned_by_bins`
BLOCK_COUNTS = (1, 2, 4, 8, 16, 32, 64)  # `tightness_interventional_by_blocks`: 1 = whole range, 64 = per value


def _ratio(spread: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """spread / (top - bottom) per cell, in [0, 1]; 1 where the bounds have met (all experts agree)."""
    width = top - bottom
    collapsed = width <= COLLAPSED * (1.0 + np.abs(top) + np.abs(bottom))
    return np.where(collapsed, 1.0, np.clip(spread / np.where(collapsed, 1.0, width), 0.0, 1.0))


def _weighted(ids: np.ndarray, per_cell: np.ndarray, n_cells: int) -> np.ndarray:
    """(cells, features) scores -> per feature, the mean over cells weighted by their rows in `ids`."""
    counts = group(ids, np.ones(ids.shape, dtype=np.float64), n_cells, np.add, 0.0)
    return (counts * per_cell).sum(axis=0) / counts.sum(axis=0)


def _range_ratio(ids: np.ndarray, high: np.ndarray, low: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                 n_cells: int) -> tuple[float, np.ndarray]:
    """Per cell of `ids` (rows, features): (max high - min low) / (max upper - min lower); cells weighted by rows."""
    top, bottom = group(ids, upper, n_cells, np.maximum, -np.inf), group(ids, lower, n_cells, np.minimum, np.inf)
    spread = group(ids, high, n_cells, np.maximum, -np.inf) - group(ids, low, n_cells, np.minimum, np.inf)
    occupied = np.isfinite(top)  # an empty cell has zero weight; zeros keep the arithmetic finite
    spread, top, bottom = (np.where(occupied, a, 0.0) for a in (spread, top, bottom))
    per_feature = _weighted(ids, _ratio(spread, top, bottom), n_cells)
    return float(per_feature.mean()), per_feature


def _as_float(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


# ------------------------------------------------------------------------------------ observational readings
def tightness_binned(X: np.ndarray, routed: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                     n_bins: int = N_BINS) -> tuple[float, np.ndarray]:
    """Eq. 12 with "| x_i" as the rows sharing a quantile bin of x_i (all arrays rows x features).

    The literal reading of the data as it is: per bin, (max o_i - min o_i) / (max u_i - min l_i) over its
    rows, bins weighted by rows. Only the contexts that happen to share the bin count, and the shape's own
    trend within the bin enters both ranges. Returns the model's value and the per-feature values.
    """
    routed, upper, lower = _as_float(routed, upper, lower)
    return _range_ratio(quantile_bins(X, n_bins), routed, routed, upper, lower, n_bins)


def tightness_position(X: np.ndarray, routed: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                       n_bins: int = N_BINS) -> tuple[float, np.ndarray]:
    """Per bin, the spread of the rows' positions (o_i - l_i) / (u_i - l_i) inside their own bounds.

    The earlier estimator, kept for comparison: it removes the bounds' width from the score, which is why
    it falls as λ narrows the bounds, opposite to the paper's trend.
    """
    routed, upper, lower = _as_float(routed, upper, lower)
    width = upper - lower
    collapsed = width <= COLLAPSED * (1.0 + np.abs(upper) + np.abs(lower))
    position = np.where(collapsed, np.nan, (routed - lower) / np.where(collapsed, 1.0, width))
    ids = quantile_bins(X, n_bins)
    high = group(ids, np.where(collapsed, -np.inf, position), n_bins, np.maximum, -np.inf)
    low = group(ids, np.where(collapsed, np.inf, position), n_bins, np.minimum, np.inf)
    spread = np.where(np.isfinite(high), np.clip(high - low, 0.0, 1.0), 1.0)  # only collapsed rows: tight
    per_feature = _weighted(ids, spread, n_bins)
    return float(per_feature.mean()), per_feature


# ------------------------------------------------------------------------------------ interventional readings
def bounds(o: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower bound over the experts (last axis): max/min (Eq. 9), or mean of the top/bottom k
    when the routing can only weigh k experts evenly (MixNAM-E's C-choose-K outcomes)."""
    ordered = np.sort(o, axis=-1)
    return ordered[..., -k:].mean(axis=-1), ordered[..., :k].mean(axis=-1)


def quantile_grid(X: np.ndarray, size: int = GRID_SIZE) -> np.ndarray:
    """(size, features): per column, the medians of `size` equal-mass slices of its values, ascending.

    Each grid value stands for 1/size of the rows, so consecutive blocks of the grid are quantile slices.
    """
    return np.quantile(np.asarray(X, dtype=np.float64), (np.arange(size) + 0.5) / size, axis=0)


def interventional_extremes(model: Any, context: np.ndarray, grid: np.ndarray, bound_k: int = 1,
                            chunk_rows: int = 8192) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(high, low, upper, lower), each (grid values, features): with x_i = grid[g, i] imposed on every row
    of `context`, the max and min of the routed o_i over those rows, and the bounds at that value.

    `model` is any MixNAM-family module (`routing_parts`, `routing_weights`) in eval mode. The routing is computed once
    per context row: only feature i's own router term changes with x_i (phi is linear in each latent), so
    per grid value the scores are the row's minus its own term plus the grid value's, for all features at
    once. `bound_k`: bounds over the top/bottom k experts (MixNAM-E's even weights).
    """
    parameter = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    device = parameter.device if parameter is not None else torch.device("cpu")
    as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
    n_grid, n_features = grid.shape
    high, low = torch.full((n_grid, n_features), -torch.inf), torch.full((n_grid, n_features), torch.inf)
    with torch.no_grad():
        experts, own_at, _ = model.routing_parts(as_tensor(grid))  # (G, n, C): o_ik(v), A_ii^T f_i(v)
        for start in range(0, len(context), chunk_rows):
            _, own, scores = model.routing_parts(as_tensor(context[start:start + chunk_rows]))
            rest = scores - own  # (R, n, C): every other feature's steer, the row's context
            for g in range(n_grid):
                routed = (model.routing_weights(rest + own_at[g]) * experts[g]).sum(-1)  # (R, n)
                high[g] = torch.maximum(high[g], routed.amax(0).cpu())
                low[g] = torch.minimum(low[g], routed.amin(0).cpu())
    upper, lower = bounds(experts.double().cpu().numpy(), bound_k)
    return high.double().numpy(), low.double().numpy(), upper, lower


def tightness_interventional_blocks(high: np.ndarray, low: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                                    n_blocks: int = N_BLOCKS) -> tuple[float, np.ndarray]:
    """Eq. 12 over blocks of consecutive grid values (from `interventional_extremes`): per block,
    (max o_i - min o_i) / (max u_i - min l_i) over its values and every context row, blocks averaged.

    Why: "| x_i" as a stretch of x_i wide enough that collapsed experts (high λ) still leave a measurable
    width, narrow enough that the shape's own trend does not dominate; 4 blocks of a 64-value grid are
    x_i's quartiles. It tracks the paper to λ = 10 but falls at λ = 100 (0.984 vs 1.000, docs/tightness.md).
    """
    high, low, upper, lower = _as_float(high, low, upper, lower)
    n_blocks = max(1, min(n_blocks, len(high)))
    block = (np.arange(len(high)) * n_blocks) // len(high)
    ids = np.broadcast_to(block[:, None], high.shape)
    return _range_ratio(ids, high, low, upper, lower, n_blocks)


def tightness_interventional_value(high: np.ndarray, low: np.ndarray, upper: np.ndarray, lower: np.ndarray
                                   ) -> tuple[float, np.ndarray]:
    """Eq. 12 per grid value: at each x_i = v, the spread of o_i over every context over the bounds at v.

    Why: the most literal interventional reading (how much of [l_i(v), u_i(v)] the routing reaches at v);
    it falls where the experts collapse to a width the routing cannot span at any single value (λ ≥ 10).
    """
    return tightness_interventional_blocks(high, low, upper, lower, n_blocks=len(high))


def tightness_interventional_range(high: np.ndarray, low: np.ndarray, upper: np.ndarray, lower: np.ndarray
                                   ) -> tuple[float, np.ndarray]:
    """Eq. 12 over x_i's whole grid: one ratio of o_i's range to the bounds' range per feature.

    Why: "E over x_i" read as one range over all values; the shape's trend enters both ranges, so it
    approaches 1 whenever the trend is much wider than the bounds. The `PRINCIPAL` reading: at the paper's
    budget it alone matches the paper's level and its rise over λ (within 0.01 at λ = 0, 1, 10, 100).
    """
    return tightness_interventional_blocks(high, low, upper, lower, n_blocks=1)


# ------------------------------------------------------------------------------------ the record
def tightness_metrics(model_view: Any, X: np.ndarray, context: np.ndarray | None, names: Sequence[str],
                      n_bins: int = N_BINS, grid_size: int = GRID_SIZE, n_blocks: int = N_BLOCKS) -> dict:
    """Every reading for a record: the observational ones on the rows X, the interventional ones (when the
    model exposes its routing; in eval mode) over the rows `context`; `PRINCIPAL` also as `tightness`."""
    o, _ = model_view.experts(X)
    routed, (upper, lower) = model_view.terms(X), bounds(o, model_view.bound_k)
    readings = {"tightness_binned": tightness_binned(X, routed, upper, lower, n_bins=n_bins)}
    metrics: dict[str, Any] = {
        "tightness_binned_by_bins": {str(k): tightness_binned(X, routed, upper, lower, n_bins=k)[0]
                                     for k in BIN_COUNTS},
        "tightness_position": tightness_position(X, routed, upper, lower, n_bins=n_bins)[0],
    }
    module = model_view.module
    if context is not None and hasattr(module, "routing_parts"):
        started = time.perf_counter()
        extremes = interventional_extremes(module, context, quantile_grid(context, grid_size), model_view.bound_k)
        readings.update(tightness_interventional_value=tightness_interventional_value(*extremes),
                        tightness_interventional_range=tightness_interventional_range(*extremes),
                        tightness_interventional_blocks=tightness_interventional_blocks(*extremes, n_blocks=n_blocks))
        metrics.update(
            tightness_interventional_by_blocks={str(k): tightness_interventional_blocks(*extremes, n_blocks=k)[0]
                                                for k in BLOCK_COUNTS if k <= grid_size},
            tightness_interventional_grid={"size": grid_size, "blocks": n_blocks, "context_rows": len(context),
                                           "seconds": round(time.perf_counter() - started, 3)})
    metrics.update({name: value for name, (value, _) in readings.items()})
    if PRINCIPAL in readings:
        value, per_feature = readings[PRINCIPAL]
        metrics.update(tightness=value, tightness_reading=PRINCIPAL,
                       tightness_per_feature=dict(zip(names, per_feature.tolist())))
    return metrics
