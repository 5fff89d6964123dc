"""Plots drawn from shape-function data, in the paper's style; PNG and PDF.

- `draw_shape`: one feature as in Figure 3: the data density as bars behind (darker = denser), and
  for the MixNAM family the upper bound (dark blue), the lower bound (red) and every row's routed
  contribution as a blue dot; for additive models the contribution curve.
- `draw_experts`: Figure 5, one curve per expert over the rows' routed contributions.
- `shape_grid`: every feature of a model on one figure (Figures 9-12).
- `draw_interactions`: the interaction matrix (mean |pair interaction| over rows) as a heatmap.
Figures are `matplotlib.figure.Figure` objects (no pyplot state, no display needed, safe in workers).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mixnam.explain.interactions import Interactions
from mixnam.explain.shapes import ShapeFunction, ShapeFunctions, is_discrete

UPPER, LOWER, DOTS, CURVE, DENSITY = "#1a2a80", "#d62728", "#3b7dd8", "#1a2a80", (0.85, 0.25, 0.25)
EXPERT_COLORS = ("#1a2a80", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _style(shape: ShapeFunction) -> str:
    """Curves for continuous features; markers where the grid is a few values (categories, binary)."""
    return "o" if is_discrete(shape.grid, shape.categorical) else "-"


def _positions(shape: ShapeFunction) -> tuple[np.ndarray, np.ndarray]:
    """x positions of the grid and the rows: values for numeric features, category index (jittered rows)."""
    if not shape.categorical:
        return shape.grid.astype(np.float64), shape.rows_x.astype(np.float64)
    index = np.searchsorted(shape.grid, shape.rows_x)
    jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(index))
    return np.arange(len(shape.grid), dtype=np.float64), index + jitter


def _density_bars(ax: Axes, shape: ShapeFunction) -> None:
    """Bars spanning the panel's height (axes units: any later y range), opacity following the
    normalised data density (NAM/NBM style)."""
    if is_discrete(shape.grid, shape.categorical):
        centres = _positions(shape)[0]
        widths = np.full(len(centres), 0.8 * (np.diff(centres).min() if len(centres) > 1 else 1.0))
    else:
        edges = shape.density_edges.astype(np.float64)
        centres, widths = (edges[1:] + edges[:-1]) / 2, np.diff(edges)
    colors = [(*DENSITY, 0.4 * d) for d in shape.density]
    ax.bar(centres, 1.0, width=widths, bottom=0.0, color=colors, linewidth=0, zorder=0,
           transform=ax.get_xaxis_transform())


def _finish(ax: Axes, shape: ShapeFunction, title: str | None, legend: bool = False) -> None:
    if shape.categorical:
        ax.set_xticks(np.arange(len(shape.grid)), [str(g) for g in shape.grid], rotation=45, ha="right", fontsize=7)
    ax.set_xlabel(shape.feature)
    ax.set_ylabel("Contribution")
    if not is_discrete(shape.grid, shape.categorical):
        low, high = float(shape.density_edges[0]), float(shape.density_edges[-1])
        ax.set_xlim(low - 0.01 * (high - low), high + 0.01 * (high - low))
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(fontsize=7, loc="best", markerscale=4)
    _density_bars(ax, shape)


def draw_shape(ax: Axes, shape: ShapeFunction, title: str | None = None, legend: bool = False, dots: bool = True,
               max_dots: int = 20_000) -> Axes:
    """Figure 3 panel: bounds and routed rows for the MixNAM family, the shape curve otherwise."""
    grid_x, rows_x = _positions(shape)
    style = _style(shape)
    if shape.upper is not None:
        if dots:
            keep = slice(None, None, max(1, len(rows_x) // max_dots))
            ax.scatter(rows_x[keep], shape.rows_contribution[keep], s=2, color=DOTS, alpha=0.35, linewidths=0,
                       rasterized=True, zorder=2, label="routed rows")
        ax.plot(grid_x, shape.upper, style, color=UPPER, lw=1.6, zorder=3, label="upper bound")
        ax.plot(grid_x, shape.lower, style, color=LOWER, lw=1.6, zorder=3, label="lower bound")
    else:
        ax.plot(grid_x, shape.contribution, style, color=CURVE, lw=1.8, zorder=3, label="contribution")
    _finish(ax, shape, title, legend)
    return ax


def draw_experts(ax: Axes, shape: ShapeFunction, title: str | None = None, legend: bool = False) -> Axes:
    """Figure 5 panel: each expert's curve over the rows' routed contributions (grey)."""
    grid_x, rows_x = _positions(shape)
    ax.scatter(rows_x, shape.rows_contribution, s=2, color="0.6", alpha=0.3, linewidths=0, rasterized=True, zorder=1)
    for k, curve in enumerate(np.atleast_2d(shape.experts.T)):
        ax.plot(grid_x, curve, _style(shape), color=EXPERT_COLORS[k % len(EXPERT_COLORS)],
                lw=1.6, zorder=3, label=f"expert {k + 1}")
    _finish(ax, shape, title, legend)
    return ax


def panel_grid(n_panels: int, ncols: int = 4, size: tuple[float, float] = (3.6, 2.8)) -> tuple[Figure, list[Axes]]:
    ncols = min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def shape_grid(shapes: ShapeFunctions, ncols: int = 4, title: str | None = None) -> Figure:
    """All features of one model (Figures 9-12)."""
    fig, axes = panel_grid(len(shapes), ncols)
    for ax, shape in zip(axes, shapes):
        draw_shape(ax, shape)
    if title:
        fig.suptitle(title)
    return fig


def single(shape: ShapeFunction, experts: bool = False, title: str | None = None) -> Figure:
    fig = Figure(figsize=(4.6, 3.4), layout="constrained")
    (draw_experts if experts else draw_shape)(fig.subplots(), shape, title, legend=True)
    return fig


def slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", str(text)).strip("_") or "feature"


def save_figure(fig: Figure, stem: str | Path, formats: Iterable[str] = ("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Write the figure as <stem>.png and <stem>.pdf; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def save_model_plots(shapes: ShapeFunctions, out_dir: str | Path, title: str | None = None) -> list[Path]:
    """Everything a run shows: the all-features grid, one Figure 3 panel per feature, expert curves."""
    out_dir = Path(out_dir)
    paths = save_figure(shape_grid(shapes, title=title), out_dir / "shapes")
    for shape in shapes:
        paths += save_figure(single(shape, title=title), out_dir / f"shape_{slug(shape.feature)}")
    if shapes.is_mixture:
        fig, axes = panel_grid(len(shapes))
        for ax, shape in zip(axes, shapes):
            draw_experts(ax, shape)
        paths += save_figure(fig, out_dir / "experts")
    return paths


def draw_interactions(ax: Axes, result: Interactions, title: str | None = None) -> Axes:
    """Heatmap of mean |pair interaction| (margin units) with the values written in the cells when few."""
    matrix, n = result.matrix, len(result.features)
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=max(float(matrix.max()), 1e-12))
    ax.set_xticks(np.arange(n), result.features, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(np.arange(n), result.features, fontsize=8)
    if n <= 12:
        for i, j in zip(*np.triu_indices(n, 1)):
            for a, b in ((i, j), (j, i)):
                ax.text(b, a, f"{matrix[a, b]:.2g}", ha="center", va="center", fontsize=6,
                        color="white" if matrix[a, b] > 0.6 * matrix.max() else "black")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label=f"mean |pair| ({result.method})")
    ax.set_title(title or f"pairwise interactions ({result.method})", fontsize=9)
    return ax


def save_interaction_plots(result: Interactions, out_dir: str | Path, title: str | None = None) -> list[Path]:
    """`interactions.png/.pdf` beside the shape plots."""
    size = 2.2 + 0.45 * len(result.features)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    draw_interactions(fig.subplots(), result, title)
    return save_figure(fig, Path(out_dir) / "interactions")
