"""Explanations: shape functions with expert bounds (data), plots on top, interpretability metrics.

Record layout (what `report table3` / `table9` read):
- every run record gets `record["interpretability"]` from `interpretability(estimator, data)`:
  `additivity` (Eq. 11, any differentiable model) and `additivity_per_feature`; for the MixNAM family
  `tightness` (Eq. 12 read literally: raw range of the routed outputs over the raw range of the
  bounds, per bin of x_i), `tightness_per_feature`, `tightness_position` (the per-row position
  estimator, kept for comparison), `tightness_by_bins` (`tightness` at 16/32/64 bins: how much the
  bin rule moves it), `n_params_nam` (a NAM with the same encoders),
  `extra_params_over_nam`, `extra_memory_bytes_over_nam` (float32) and `extra_params_paper_formula`
  (Table 9's n C ((n+1) d + 2), or n C (2 d + 2) for MixNAM-D's diagonal router).
  Keys that do not apply to a model are absent; library models without gradients get `{}`.
- with `explain=true`, `record["explain"] = explain_run(...)`: `dir` and `files` (paths relative to
  the record's directory: `shapes.npz` with the plain data, `shapes.png/.pdf` with every feature,
  `shape_<feature>.png/.pdf` one Figure 3 panel each, `experts.png/.pdf` for the MixNAM family).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mixnam.explain.shapes import ShapeFunction, ShapeFunctions, shape_functions
from mixnam.explain.view import ModelView, bounds, view

__all__ = ["ModelView", "ShapeFunction", "ShapeFunctions", "bounds", "explain_run", "interpretability",
           "shape_functions", "view"]

log = logging.getLogger(__name__)


TIGHTNESS_BIN_COUNTS = (16, 32, 64)


def interpretability(model: Any, data: Any, n_bins: int = 32, max_rows: int = 4096, seed: int = 0) -> dict:
    """Additivity, tightness and size over NAM of a fitted model, on the test rows (model units)."""
    from mixnam.evaluation.additivity import additivity, tightness, tightness_position
    from mixnam.evaluation.complexity import over_nam

    names = list(data.problem.feature_names)
    model_view = view(model, len(names))
    X = data.test.X
    metrics: dict[str, Any] = {}
    if model_view.output is not None:
        value, shares = additivity(model_view.output, X, n_bins=n_bins, max_rows=max_rows, seed=seed)
        metrics.update(additivity=value, additivity_per_feature=dict(zip(names, shares.tolist())))
    if model_view.is_mixture:
        o, _ = model_view.experts(X)
        routed, (upper, lower) = model_view.terms(X), bounds(o, model_view.bound_k)
        value, per_feature = tightness(X, routed, upper, lower, n_bins=n_bins)
        metrics.update(tightness=value, tightness_per_feature=dict(zip(names, per_feature.tolist())),
                       tightness_position=tightness_position(X, routed, upper, lower, n_bins=n_bins)[0],
                       tightness_by_bins={str(k): tightness(X, routed, upper, lower, n_bins=k)[0]
                                          for k in TIGHTNESS_BIN_COUNTS})
    if model_view.module is not None:
        metrics.update(over_nam(model_view.module))
    return metrics


def explain_run(estimator: Any, data: Any, run_dir: str | Path) -> dict:
    """Save a fitted model's shape data and plots beside its run record; return what was written."""
    from mixnam.explain.plots import save_model_plots

    run_dir = Path(run_dir)
    out_dir = run_dir / "explain"
    try:
        shapes = shape_functions(estimator, data)
    except TypeError as error:  # not additive (MLP, XGBoost): nothing to draw, the run stays valid
        log.warning("explain: %s", error)
        return {"skipped": str(error)}
    model = run_dir.parent.name  # records live in <runs>/<experiment>/<dataset>/<model>/
    files = [shapes.save(out_dir / "shapes.npz"),
             *save_model_plots(shapes, out_dir, title=f"{model} on {data.spec.name}")]
    log.info("explain: %d files in %s", len(files), out_dir)
    return {"dir": str(out_dir.relative_to(run_dir.parent)),
            "files": [str(p.relative_to(run_dir.parent)) for p in files]}
