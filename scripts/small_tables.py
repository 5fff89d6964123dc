"""MixNAM and NAM with their default settings against the usual baselines on the small tables scikit-learn
ships: the comparison table of docs/own-data.md.

    python scripts/small_tables.py [--seeds 0 1 2 ...] [--datasets diabetes breast_cancer wine] [--ebm-outer-bags N]

Each dataset is split 70/30 (`random_state=0`, stratified for classification); every model is fitted on
the 70% with its default settings (MixNAM and NAM at the README example's budget, `hidden_dim=32,
max_epochs=20`; the neural models once per seed, shown as the mean (lowest-highest) over seeds) and
scored on the 30%: test AUC for classification, RMSE for regression. The line above the table names the machine, its load and the torch threads, as the
fit times depend on them. Datasets (all bundled with scikit-learn, no download):
  diabetes       load_diabetes, regression (442 rows, 10 features)
  breast_cancer  load_breast_cancer, malignant/benign (569 rows, 30 features)
  wine           load_wine turned binary: cultivar 2 (class 1) against the others (178 rows, 13 features)
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import mixnam  # noqa: F401 - before torch (OpenMP's idle threads sleep)
import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixnam import MixNAMClassifier, MixNAMRegressor, NAMClassifier, NAMRegressor
from mixnam.devices import cpu_model

EXAMPLE = dict(hidden_dim=32, max_epochs=20)  # the README example's budget


def datasets():
    X, y = load_wine(return_X_y=True, as_frame=True)
    return {"diabetes": (*load_diabetes(return_X_y=True, as_frame=True), "regression"),
            "breast_cancer": (*load_breast_cancer(return_X_y=True, as_frame=True), "classification"),
            "wine": (X, (y == 1).astype(int), "classification")}


def models(task: str, seeds: list[int], ebm_outer_bags: int | None):
    """(name, [one estimator per seed]) in table order; the baselines are deterministic (one fit)."""
    from interpret.glassbox import ExplainableBoostingClassifier, ExplainableBoostingRegressor

    classify = task == "classification"
    mixnam_cls, nam_cls = (MixNAMClassifier, NAMClassifier) if classify else (MixNAMRegressor, NAMRegressor)
    ebm = ExplainableBoostingClassifier if classify else ExplainableBoostingRegressor
    ebm_args = {} if ebm_outer_bags is None else {"outer_bags": ebm_outer_bags}
    return [
        ("MixNAM", [mixnam_cls(**EXAMPLE, random_state=s) for s in seeds]),
        ("NAM", [nam_cls(**EXAMPLE, random_state=s) for s in seeds]),
        ("LogisticRegression" if classify else "Ridge",
         [make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000) if classify else Ridge())]),
        ("EBM" + (f" (outer_bags={ebm_outer_bags})" if ebm_args else ""), [ebm(random_state=0, **ebm_args)]),
        ("HistGradientBoosting",
         [(HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(random_state=0)]),
    ]


def score(model, X, y, task: str) -> float:
    if task == "classification":
        return roc_auc_score(y, model.predict_proba(X)[:, 1])
    return float(np.sqrt(mean_squared_error(y, model.predict(X))))


def hardware_line() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu_model()} ({os.cpu_count()} cores, load average {load:.1f} at the start), torch "
            f"{torch.__version__} with {torch.get_num_threads()} thread(s), {platform.system()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)),
                        help="random_state of the neural models")
    parser.add_argument("--datasets", nargs="+", default=list(datasets()), choices=list(datasets()))
    parser.add_argument("--ebm-outer-bags", type=int, default=None, help="lower EBM's outer_bags (default: interpret's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the measured table used 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(hardware_line(), flush=True)
    print("| dataset (rows to fit on, metric) | model | test score | fit |\n|---|---|---|---|", flush=True)
    for name, (X, y, task) in datasets().items():
        if name not in args.datasets:
            continue
        stratify = y if task == "classification" else None
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=stratify)
        metric = "AUC" if task == "classification" else "RMSE"
        for label, fits in models(task, args.seeds, args.ebm_outer_bags):
            scores, times = [], []
            for model in fits:
                start = time.perf_counter()
                model.fit(X_train, y_train)
                times.append(time.perf_counter() - start)
                scores.append(score(model, X_test, y_test, task))
            digits = 3 if task == "classification" else 1
            shown = f"{np.mean(scores):.{digits}f}"
            if len(fits) > 1:
                shown += f" ({min(scores):.{digits}f}–{max(scores):.{digits}f})"
                label += f", {len(fits)} seeds"
            spent = f"{min(times):.1f}–{max(times):.1f} s" if len(times) > 1 else f"{times[0]:.1f} s"
            print(f"| {name} ({len(X_train)}, {metric}) | {label} | {shown} | {spent} |", flush=True)


if __name__ == "__main__":
    main()
