"""Explanations: shape functions with expert bounds (data), plots on top, interpretability metrics.

Record layout (what `report table3` / `table9` read):
- every run record gets `record["interpretability"]` from `interpretability(estimator, data)`:
  `additivity` (Eq. 11, any differentiable model) and `additivity_per_feature`; for the MixNAM family
  every reading of Eq. 12 (`mixnam.evaluation.tightness`, issue 26): `tightness` (the principal one, named
  by `tightness_reading`) with `tightness_per_feature`, `tightness_binned` (32 quantile bins of x_i on the
  test rows; `tightness_binned_by_bins` at 16/32/64), `tightness_position`, `tightness_interventional_value`,
  `tightness_interventional_range`, `tightness_interventional_blocks` (x_i imposed on every row of the
  data set; `tightness_interventional_by_blocks` at 1-64 blocks, `tightness_interventional_grid` its grid,
  context rows and seconds); `n_params_nam` (a NAM with the same encoders),
  `extra_params_over_nam`, `extra_memory_bytes_over_nam` (float32) and `extra_params_paper_formula`
  (Table 9's n C ((n+1) d + 2), or n C (2 d + 2) for MixNAM-D's diagonal router).
  Keys that do not apply to a model are absent; library models without gradients get `{}`.
- with `explain=true`, `record["explain"] = explain_run(...)`: `dir` and `files` (paths relative to
  the record's directory: `shapes.npz` with the plain data, `shapes.png/.pdf` with every feature,
  `shape_<feature>.png/.pdf` one Figure 3 panel each, `experts.png/.pdf` for the MixNAM family), and
  for every model, additive or not, `interactions` (issue 15): the synergy decomposition's summary
  (`top_pairs`, `pair_strength`, `pair_share`, ...), its `matrix` (mean |pair| over test rows, with
  `features`), and the files `interactions.npz` and the heatmap `interactions.png/.pdf`.
- `interpretability` also holds `input_gradient_per_feature` (mean |d margin / d x_i| over the test
  rows, model units) for differentiable models: what the decoy experiment and the "find another
  explanation" loop read.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from mixnam.explain.interactions import Interactions, interactions
from mixnam.explain.shapes import ShapeFunction, ShapeFunctions, shape_functions
from mixnam.explain.view import ModelView, bounds, evaluating, view

__all__ = ["Interactions", "ModelView", "ShapeFunction", "ShapeFunctions", "bounds", "explain_run", "input_gradients",
           "interactions", "interpretability", "shape_functions", "view"]

log = logging.getLogger(__name__)


def interpretability(model: Any, data: Any, n_bins: int = 32, max_rows: int = 4096, seed: int = 0) -> dict:
    """Additivity, tightness and size over NAM of a fitted model, on the test rows (model units); the
    interventional tightness takes every row of the data set (train, validation, test) as its context."""
    from mixnam.evaluation.additivity import additivity
    from mixnam.evaluation.complexity import over_nam
    from mixnam.evaluation.tightness import tightness_metrics

    names = list(data.problem.feature_names)
    model_view = view(model, len(names))
    X = data.test.X
    metrics: dict[str, Any] = {}
    if model_view.output is not None:
        value, shares = additivity(model_view.output, X, n_bins=n_bins, max_rows=max_rows, seed=seed)
        metrics.update(additivity=value, additivity_per_feature=dict(zip(names, shares.tolist())),
                       input_gradient_per_feature=dict(zip(names, input_gradients(model_view, X[:max_rows]).tolist())))
    if model_view.is_mixture:
        with evaluating(model_view.module) if model_view.module is not None else nullcontext():
            metrics.update(tightness_metrics(model_view, X, all_rows(data), names, n_bins=n_bins))
    if model_view.module is not None:
        metrics.update(over_nam(model_view.module))
    return metrics


def all_rows(data: Any) -> np.ndarray:
    """Every row the data set holds (train, validation, test; the parts it has), in model units."""
    return np.concatenate([part.X for part in (getattr(data, name, None) for name in ("train", "val", "test"))
                           if part is not None])


def input_gradients(model_view: ModelView, X: np.ndarray) -> np.ndarray:
    """Mean |d margin / d x_i| over the rows X (model units), per feature: how much a model leans on each."""
    import torch

    x = torch.as_tensor(X, dtype=torch.float32).requires_grad_(True)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(model_view.output(x).sum(), x)
    return gradient.abs().mean(0).double().numpy()


def _interaction_record(estimator: Any, data: Any, out_dir: Path, title: str) -> tuple[dict, list[Path]]:
    """The synergy decomposition on the test rows: its summary and matrix for the record, data and heatmap."""
    from mixnam.explain.plots import save_interaction_plots

    result = interactions(estimator, data, method="synergy")
    summary = {**result.summary(), "features": result.features, "matrix": result.matrix.round(8).tolist()}
    return summary, [result.save(out_dir / "interactions.npz"), *save_interaction_plots(result, out_dir, title)]


def explain_run(estimator: Any, data: Any, run_dir: str | Path) -> dict:
    """Save a fitted model's shape data, interactions and plots beside its run record; return what was written."""
    from mixnam.explain.plots import save_model_plots

    run_dir = Path(run_dir)
    out_dir = run_dir / "explain"
    title = f"{run_dir.parent.name} on {data.spec.name}"  # records live in <runs>/<experiment>/<dataset>/<model>/
    summary, files = _interaction_record(estimator, data, out_dir, title)
    explained: dict[str, Any] = {"dir": str(out_dir.relative_to(run_dir.parent)), "interactions": summary}
    try:
        shapes = shape_functions(estimator, data)
        files += [shapes.save(out_dir / "shapes.npz"), *save_model_plots(shapes, out_dir, title=title)]
    except TypeError as error:  # not additive (MLP, XGBoost): no shapes to draw, the run stays valid
        log.warning("explain: %s", error)
        explained["skipped"] = str(error)
    log.info("explain: %d files in %s", len(files), out_dir)
    return {**explained, "files": [str(p.relative_to(run_dir.parent)) for p in files]}
