"""The unsupervised "find another explanation" loop of Right for the Right Reasons (issue 15), as an experiment.

    python -m mixnam.another_explanation [--rounds 3] [--per-round 1] [--out DIR] model=mixnam dataset=housing [override ...]

Round 0 trains the model as configured; every later round annotates, in addition, the `per_round`
features the previous model leaned on most (largest mean |input gradient| on the test rows) and
retrains with `constraint=rrr` on all annotated features. Each round is an ordinary run (record,
weights, shapes with explain=true, under experiment `another_explanation`, so finished rounds are
skipped). The table `<out>/another_explanation_<dataset>_<model>.md` says per round which features
were constrained, the test metric, where the input gradients went, and how much each feature's
shape changed from round 0 (correlation of the mean-centred shape curves; additive models only).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from mixnam.cli import check_overrides, fail
from mixnam.errors import MixnamError
from mixnam.experiment import run
from mixnam.explain import ShapeFunctions
from mixnam.models import NEURAL
from mixnam.reporting.explanations import provenance
from mixnam.sweeps import CONF_DIR

ROOT = CONF_DIR.parent


def _config(overrides: list[str], constrained: list[str]):
    extra = ["constraint=rrr", f"constraint.features=[{','.join(constrained)}]"] if constrained else []
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"paths.root={ROOT}", "experiment_name=another_explanation",
                                            "explain=true", *overrides, *extra])


def _shapes(record: dict, runs_dir: Path) -> ShapeFunctions | None:
    files = (record.get("explain") or {}).get("files", [])
    path = next((f for f in files if f.endswith("shapes.npz")), None)
    run_dir = runs_dir / record["experiment"] / record["dataset"] / record["model"]
    return ShapeFunctions.load(run_dir / path) if path else None


def shape_change(first: ShapeFunctions | None, later: ShapeFunctions | None) -> dict[str, float]:
    """Per feature, the correlation of the two rounds' shape curves (1: unchanged; nan: a flat curve)."""
    if first is None or later is None:
        return {}
    with np.errstate(invalid="ignore", divide="ignore"):
        return {a.feature: float(np.corrcoef(a.contribution, b.contribution)[0, 1]) for a, b in zip(first, later)}


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m mixnam.another_explanation", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=1)
    parser.add_argument("--out", type=Path, help="default: results/tables[/<profile> unless paper], as reports")
    parser.add_argument("overrides", nargs="*", help="the run's overrides, e.g. model=mixnam dataset=housing")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.per_round < 1:
        parser.error("--rounds and --per-round must be at least 1")
    check_overrides(args.overrides)  # unknown datasets, models and keys: one line naming the valid ones
    try:
        return _rounds(args)
    except MixnamError as error:  # an unknown feature, a missing file: the message, not a traceback
        fail(str(error))


def _rounds(args: argparse.Namespace) -> Path:
    constrained: list[str] = []
    records = []
    cfg = _config(args.overrides, constrained)
    if cfg.model.name not in NEURAL:
        fail(f"model={cfg.model.name} has no input gradients to constrain; the loop needs a neural model "
             f"({', '.join(NEURAL)})")
    out = args.out or ROOT / "results" / "tables" / ("" if cfg.profile == "paper" else cfg.profile)
    for _ in range(args.rounds):
        cfg = _config(args.overrides, constrained)
        record = run(cfg)
        gradients = record["interpretability"]["input_gradient_per_feature"]
        records.append((list(constrained), record, _shapes(record, Path(cfg.paths.runs_dir))))
        constrained += [f for f in sorted(gradients, key=gradients.get, reverse=True) if f not in constrained][
                       :args.per_round]

    metric = records[0][1]["metric"]
    lines = [f"# Find another explanation: {records[0][1]['model']} on {records[0][1]['dataset']}",
             ("Each round retrains with rrr on every feature annotated so far (the previous rounds' most used "
              "features). Gradient share: mean |∂f/∂x_i| on the test rows over the sum of all features'. Shape "
              "r: correlation of the feature's shape curve with round 0's."), "",
             f"| round | constrained | test {metric} | top features by gradient share | shape r (vs round 0) |",
             "|---|---|---|---|---|"]
    for k, (annotated, record, shapes) in enumerate(records):
        gradients = record["interpretability"]["input_gradient_per_feature"]
        total = sum(gradients.values())
        top = ", ".join(f"{f} {gradients[f] / total:.2f}" for f in sorted(gradients, key=gradients.get, reverse=True)[:3])
        change = ", ".join(f"{f} {r:.2f}" for f, r in shape_change(records[0][2], shapes).items())
        lines.append(f"| {k} | {', '.join(annotated) or '—'} | {record['metrics']['test'][metric]:.4f} | {top} | "
                     f"{change or '—'} |")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"another_explanation_{records[0][1]['dataset']}_{records[0][1]['model']}.md"
    path.write_text("\n".join(lines) + "\n\n" + provenance([r for _, r, _ in records]) + "\n")
    print(path)
    return path


if __name__ == "__main__":
    main()
