"""Reports on explanations (issue 15), built from run records like the paper's tables.

- `interactions`: models side by side on one dataset (records of `experiment=interactions`, made with
  explain=true): the total pair strength of the synergy decomposition (sum over pairs of mean
  |pair synergy| on test rows, margin units), its share of main + pairs + remainder, and the strength
  of the pairs that are strongest over all models. MixNAM-D and the other additive models must read 0.
- `decoy`: the decoy experiment (records of `experiment=decoy`): per model and condition, the test
  and validation RMSE over seeds (mean ± std, min–max), and how much the model leans on the decoy
  (mean |d prediction / d decoy| and its share of all features' input gradients).
Both write `<name>.md` and `.csv` with a provenance footer (commits, hardware, epochs, seeds, time).
"""
from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mixnam.runs.records import fit_time, iter_records

INTERACTION_MODELS = ("mixnam", "mixnam_d", "na2m", "eb2m", "mlp")
DECOY_CONDITIONS = ("reference (no leak)", "unconstrained", "rrr on decoy", "router_exclude decoy",
                    "rrr + router_exclude")


def spread(values: list[float], digits: int = 3) -> str:
    """mean ± sample std (min–max) of the runs; a single run without a spread."""
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return (f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} "
            f"({min(values):.{digits}f}–{max(values):.{digits}f})")


def _hardware(record: dict) -> str:
    env = record["env"]
    return f"{env.get('cpu_model') or env.get('cpu')} x{env.get('cpu_count')} ({env.get('device')}, {env.get('gpu', 'no GPU')})"


def provenance(records: list[dict]) -> str:
    """Where the numbers come from: commits, machines, precision, epochs, seeds, rows and time."""
    def distinct(get: Callable[[dict], Any]) -> str:
        return ", ".join(sorted({str(get(r)) for r in records})) or "—"

    return "\n".join([
        "## Provenance",
        f"- records: {len(records)} completed runs; profile(s): {distinct(lambda r: r.get('profile'))}",
        f"- git commit(s): {distinct(lambda r: r['env'].get('git_commit'))}",
        f"- hardware: {distinct(_hardware)}",
        (f"- precision: {distinct(lambda r: r['config']['trainer'].get('precision'))}; "
         f"threads: {distinct(lambda r: r['config']['trainer'].get('num_threads'))}"),
        (f"- epochs (budget): {distinct(lambda r: r.get('max_epochs'))}; seeds: {distinct(lambda r: r.get('seed'))}; "
         f"train rows: {distinct(lambda r: r.get('data', {}).get('n_train'))}"),
        f"- total fit time: {fit_time(records)} (wall clock, shared machine)",
    ])


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue()


def _completed(runs_dir: str | Path, experiment: str, profile: str, keep: Callable[[dict], bool]) -> list[dict]:
    return [r for _, r in iter_records(runs_dir) if r.get("experiment") == experiment
            and r.get("profile") == profile and r.get("status") == "completed" and keep(r)]


# --------------------------------------------------------------------------------------------- interactions
def interactions_report(runs_dir: str | Path, profile: str = "paper", dataset: str = "housing",
                        models=INTERACTION_MODELS,
                        n_pairs: int = 5) -> tuple[str, str]:
    """(markdown, csv) of the models' interactions on `dataset`."""
    records = _completed(runs_dir, "interactions", profile, lambda r: r.get("dataset") == dataset
                         and "interactions" in (r.get("explain") or {}))
    by_model: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_model[record["model"]].append(record)
    matrices = {m: np.mean([r["explain"]["interactions"]["matrix"] for r in rs], axis=0) for m, rs in by_model.items()}
    features = next(iter(by_model.values()))[0]["explain"]["interactions"]["features"] if records else []
    strongest = np.max(list(matrices.values()), axis=0) if matrices else np.zeros((0, 0))
    upper = [(i, j) for i in range(len(features)) for j in range(i + 1, len(features))]
    top = sorted(upper, key=lambda p: -strongest[p])[:n_pairs]
    header = ["model", "runs", "test metric", "pair strength", "pair share",
              *[f"{features[i]} × {features[j]}" for i, j in top]]
    rows = []
    for model in models:
        runs = by_model.get(model, [])
        if not runs:
            rows.append([model, "0", *["—"] * (len(header) - 2)])
            continue
        metric = runs[0]["metric"]
        summaries = [r["explain"]["interactions"] for r in runs]
        rows.append([model, str(len(runs)), f"{metric} {spread([r['metrics']['test'][metric] for r in runs])}",
                     spread([s["pair_strength"] for s in summaries], 4), spread([s["pair_share"] for s in summaries]),
                     *[f"{matrices[model][p]:.4f}" for p in top]])
    method = records[0]["explain"]["interactions"]["method"] if records else "synergy"
    text = "\n\n".join([
        f"# Pairwise interactions on {dataset}",
        (f"Method: `{method}` (baseline: the test rows' median; margin units: standardised target or logit). "
         "Pair strength: sum over pairs of mean |pair synergy| over the test rows; pair share: its part of main "
         "effects + pairs + higher-order remainder. Columns on the right: the pairs strongest in any model, mean "
         "|synergy| each. Additive models (MixNAM-D, NAM, EBM) read exactly 0; EB2M's pairs are its pair terms."),
        _table(header, rows), provenance(records)])
    return text + "\n", _csv(header, rows)


# ------------------------------------------------------------------------------------------------- decoy
def decoy_condition(record: dict) -> str:
    config = record["config"]
    constraint = config.get("constraint") or {}
    if not config["dataset"].get("options", {}).get("leak", True):
        return DECOY_CONDITIONS[0]
    rrr, excluded = constraint.get("name") == "rrr", bool(constraint.get("router_exclude"))
    return DECOY_CONDITIONS[1 + rrr + 2 * excluded]


def decoy_gradient(record: dict) -> tuple[float, float]:
    """(mean |d prediction / d decoy|, its share of the sum over features) on the test rows."""
    gradients = record["interpretability"]["input_gradient_per_feature"]
    return gradients["decoy"], gradients["decoy"] / max(sum(gradients.values()), 1e-300)


def decoy_report(runs_dir: str | Path, profile: str = "paper") -> tuple[str, str]:
    """(markdown, csv) of the decoy experiment."""
    records = _completed(runs_dir, "decoy", profile, lambda r: r.get("dataset") == "decoy")
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in records:
        cells[record["model"], decoy_condition(record)].append(record)
    header = ["model", "condition", "seeds", "test RMSE", "val RMSE", "test RMSE − reference",
              "mean |∂f/∂decoy|", "decoy share of |∂f/∂x|"]
    rows = []
    for model in sorted({m for m, _ in cells}):
        reference = [r["metrics"]["test"]["rmse"] for r in cells.get((model, DECOY_CONDITIONS[0]), [])]
        for condition in DECOY_CONDITIONS:
            runs = sorted(cells.get((model, condition), []), key=lambda r: r["seed"])
            if not runs:
                continue
            test = [r["metrics"]["test"]["rmse"] for r in runs]
            gradients = [decoy_gradient(r) for r in runs]
            gap = spread([t - statistics.mean(reference) for t in test]) if reference else "—"
            rows.append([model, condition, str(len(runs)), spread(test), spread([r["metrics"]["val"]["rmse"] for r in runs]),
                         gap, spread([g for g, _ in gradients]), spread([s for _, s in gradients])])
    text = "\n\n".join([
        "# Decoy experiment: explanation constraints at work",
        ("`decoy` copies the label (y + N(0, 0.1²)) in train and validation and is noise in test; y = x1 + sin(2 x2) "
         "+ x3 x4 / 2 + N(0, 0.3²), so 0.3 is the best attainable test RMSE. Reference: the same data with the decoy "
         "noise everywhere. rrr: loss += 10 · mean over rows of (∂f/∂decoy)²; router_exclude: MixNAM's router blocks "
         "between the decoy and the other features held at zero. Gradients on the test rows, model units. "
         "Cells: mean ± std (min–max) over seeds; − reference: minus the reference's mean."),
        _table(header, rows), provenance(records)])
    return text + "\n", _csv(header, rows)


REPORTS: dict[str, Callable[..., tuple[str, str]]] = {"interactions": interactions_report, "decoy": decoy_report}
