"""Regenerate the paper's shape-function figures from stored runs: `make figures [FIGURES="4 5 6 7 3"]`.

Every panel is drawn from the shape data a run saved beside its record (`explain=true`), never from a
retrained model, so a figure is exactly the runs it names. With `--run`, the experiment behind each
requested figure is swept first (`run.py -m experiment=figureN`; finished runs are skipped):
- 4, 5: conf/experiment/figure4.yaml (NAM / MixNAM on the unimodal and multimodal simulations);
- 6: figure6.yaml (sparse simulation); 7: figure7.yaml (high-variability simulation);
- 3: the Longitude panels of EBM, NAM and MixNAM on Housing, from whichever Housing runs were made
  with explain=true (e.g. `python run.py model=mixnam dataset=housing explain=true`); not swept here.
Writes results/figures/figure<N>.png and .pdf and prints which record each panel came from.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from mixnam.explain.plots import draw_experts, draw_shape, panel_grid, save_figure
from mixnam.explain.shapes import ShapeFunctions
from mixnam.runs.records import iter_records

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = {"4": "figure4", "5": "figure4", "6": "figure6", "7": "figure7"}
MODEL_LABELS = {"nam": "NAM", "mixnam": "MixNAM", "ebm": "EBM", "mixnam_d": "MixNAM-D", "mixnam_e": "MixNAM-E"}


class Run:
    """A completed record with saved shape data."""

    def __init__(self, path: Path, record: dict):
        self.path, self.record = path, record
        self.shapes_path = path.parent / record["explain"]["dir"] / "shapes.npz"

    def option(self, key: str, default: Any = None) -> Any:
        """A value of the run's resolved config by dotted key (e.g. dataset.options.share)."""
        node: Any = self.record["config"]
        for part in key.split("."):
            node = node.get(part, default) if isinstance(node, dict) else default
        return node

    @property
    def label(self) -> str:
        return MODEL_LABELS.get(self.record["model"], self.record["model"])

    def shapes(self) -> ShapeFunctions:
        return ShapeFunctions.load(self.shapes_path)


def stored_runs(runs_dir: Path, experiment: str | None = None) -> list[Run]:
    """Completed runs with shape data, newest first (a rerun with new settings wins over an old one)."""
    base = runs_dir / experiment if experiment else runs_dir
    runs = [Run(path, record) for path, record in iter_records(base)
            if record.get("status") == "completed" and "dir" in record.get("explain", {})]
    return sorted((r for r in runs if r.shapes_path.is_file()), key=lambda r: r.record.get("finished_at", ""),
                  reverse=True)


def pick(runs: list[Run], model: str, dataset: str, options: dict[str, Any] | None = None) -> Run | None:
    """The newest run of `model` on `dataset` whose config has the given values (dotted keys)."""
    for run in runs:
        if run.record["model"] == model and run.record["dataset"] == dataset and all(
                run.option(key) == value for key, value in (options or {}).items()):
            return run
    return None


def share_y(axes) -> None:
    """Panels compared side by side share one y range, so a flat shape looks flat."""
    lows, highs = zip(*(ax.get_ylim() for ax in axes))
    for ax in axes:
        ax.set_ylim(min(lows), max(highs))


Rows = list[tuple[str, list[tuple[str, "Run | None"]]]]


def grid_figure(rows: Rows, feature: str, draw: Callable = draw_shape) -> tuple[Any, list[Run], int]:
    """One row of panels per (row label, [(column title, run)]), each row on a shared y range.

    Returns the figure, the runs drawn and how many panels still lack a run.
    """
    ncols = max(len(cols) for _, cols in rows)
    fig, axes = panel_grid(len(rows) * ncols, ncols)
    used, missing = [], 0
    for r, (row_label, cols) in enumerate(rows):
        drawn = []
        for ax, (title, run) in zip(axes[r * ncols:(r + 1) * ncols], cols):
            title = f"{title} | {row_label}" if row_label else title
            if run is None:
                ax.text(0.5, 0.5, "no run yet", ha="center", va="center", transform=ax.transAxes)
                ax.set_title(title)
                missing += 1
                continue
            draw(ax, run.shapes()[feature], title=title, legend=r == 0)
            used.append(run)
            drawn.append(ax)
        if drawn:
            share_y(drawn)
    return fig, used, missing


def models(runs: list[Run], dataset: str, options: dict[str, Any] | None = None) -> list[tuple[str, Run | None]]:
    """The NAM and MixNAM panels of one simulation setting."""
    return [(label, pick(runs, model, dataset, options)) for model, label in (("nam", "NAM"), ("mixnam", "MixNAM"))]


def figure3(runs_dir: Path):
    runs = stored_runs(runs_dir)
    return grid_figure([("", [(MODEL_LABELS[m], pick(runs, m, "housing")) for m in ("ebm", "nam", "mixnam")])],
                       "Longitude")


def figure4(runs_dir: Path):
    runs = stored_runs(runs_dir, "figure4")
    return grid_figure([(study, models(runs, f"synthetic_{study}")) for study in ("unimodal", "multimodal")], "x1")


def figure5(runs_dir: Path):
    runs = stored_runs(runs_dir, "figure4")
    return grid_figure([("", [(f"MixNAM experts | {study}", pick(runs, "mixnam", f"synthetic_{study}"))
                              for study in ("unimodal", "multimodal")])], "x1", draw=draw_experts)


def figure6(runs_dir: Path):
    runs = stored_runs(runs_dir, "figure6")
    experts = sorted({r.option("model.n_experts") for r in runs if r.record["model"] == "mixnam"}) or [2, 4, 8]
    def panel(share: float, model: str, options: dict[str, Any] | None = None) -> Run | None:
        return pick(runs, model, "synthetic_sparse", {"dataset.options.share": share} | (options or {}))

    rows = [(f"x2 = 1 in {share:.0%}", [("NAM", panel(share, "nam"))]
             + [(f"MixNAM C={c}", panel(share, "mixnam", {"model.n_experts": c})) for c in experts])
            for share in (0.25, 0.05, 0.01)]
    return grid_figure(rows, "x1")


def figure7(runs_dir: Path):
    runs = stored_runs(runs_dir, "figure7")
    return grid_figure([(f"NC = {nc}", models(runs, "synthetic_variability", {"dataset.options.n_switches": nc}))
                        for nc in (1, 2, 4, 8, 16)], "x1")


FIGURES = {"3": figure3, "4": figure4, "5": figure5, "6": figure6, "7": figure7}


def sweep(experiment: str, overrides: list[str]) -> int:
    command = [sys.executable, str(ROOT / "run.py"), "-m", f"experiment={experiment}", *overrides]
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("figures", nargs="*", default=["4", "5"], help="figure numbers (3 4 5 6 7); default 4 5")
    parser.add_argument("--run", action="store_true", help="sweep the figures' experiments first (resumable)")
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "runs", help="records directory")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "figures")
    parser.add_argument("--override", action="append", default=[],
                        help="passed to run.py when sweeping, e.g. --override profile=smoke")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.figures) - set(FIGURES))
    if unknown:
        parser.error(f"no figure {unknown}; figures: {', '.join(FIGURES)}")
    failed = []
    if args.run:
        overrides = [f"paths.runs_dir={args.runs.resolve()}", *args.override]
        for experiment in dict.fromkeys(EXPERIMENTS[f] for f in args.figures if f in EXPERIMENTS):
            if sweep(experiment, overrides) != 0:
                failed.append(experiment)
    missing = 0
    for number in args.figures:
        fig, used, lacking = FIGURES[number](args.runs)
        paths = save_figure(fig, args.out / f"figure{number}")
        missing += lacking
        print(f"figure {number}: {', '.join(map(str, paths))}")
        for run in used:
            metric = run.record["metric"]
            print(f"    {run.label} on {run.record['dataset']}: {run.path.relative_to(args.runs)} "
                  f"(test {metric} {run.record['metrics']['test'][metric]:.4g}, profile {run.record.get('profile')})")
    if missing:
        print(f"{missing} panel(s) have no run yet: `make figures` (or --run) sweeps Figures 4-7's experiments; "
              "Figure 3 needs Housing runs of ebm, nam and mixnam made with explain=true.")
    if failed:
        print(f"sweeps that failed: {', '.join(failed)} (their failed records say why)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
