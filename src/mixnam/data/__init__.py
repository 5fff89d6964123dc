"""Data layer: `load(...)` returns one split of one dataset, preprocessed and ready for any model."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mixnam.contracts import Arrays, Problem
from mixnam.data import csv, decoy, synthetic  # noqa: F401  (register the user's CSV and the generated datasets)
from mixnam.data.datasets import DATASETS, DatasetSpec, get_spec, read
from mixnam.data.preprocess import Preprocessor, categorical_columns
from mixnam.data.splits import SplitIndices, split_indices

__all__ = ["DATASETS", "DatasetSpec", "LoadedSplit", "Preprocessor", "get_spec", "load"]


@dataclass
class LoadedSplit:
    """One split of one dataset: raw frame, index sets, fitted preprocessor and model-ready arrays."""

    spec: DatasetSpec
    X: pd.DataFrame  # raw features in original units (explanations plot against these)
    y: np.ndarray  # raw target in original units
    indices: SplitIndices
    preprocessor: Preprocessor
    problem: Problem
    train: Arrays
    val: Arrays
    test: Arrays

    @property
    def metadata(self) -> dict:
        return {"split_source": self.indices.source, "n_train": len(self.indices.train),
                "n_val": len(self.indices.val), "n_test": len(self.indices.test), "n_rows": len(self.X)}


def _fold_dir(name: str, data_dir: Path, mirror: str | None) -> Path:
    """Where optional split files (NODE-GAM folds, NODE's Year indices) are looked for."""
    cache = data_dir / name
    if mirror and not mirror.startswith(("http://", "https://", "file://")) and not any(cache.glob("*.txt")):
        return Path(mirror) / name
    return cache


def _subsample(indices: SplitIndices, max_rows: int, n_rows: int) -> SplitIndices:
    """Keep the same share of each part so a reduced run keeps the protocol's proportions."""
    rng = np.random.default_rng(0)
    keep = max_rows / n_rows

    def part(rows: np.ndarray) -> np.ndarray:
        return np.sort(rng.permutation(rows)[: max(2, int(np.ceil(len(rows) * keep)))])

    return SplitIndices(part(indices.train), part(indices.val), part(indices.test),
                        indices.source + f"; reduced to about {max_rows} rows (data.max_rows)")


def load(name: str, split: int = 0, seed: int = 0, data_dir: str | Path = "data", mirror: str | None = None,
         max_rows: int | None = None, verify_rows: bool = True, options: dict | None = None,
         tail_validation: str = "node_rows") -> LoadedSplit:
    """One split, preprocessed; `tail_validation` picks Year's validation rows (`fidelity.year_validation`)."""
    spec = get_spec(name)
    if spec.configure is not None:  # the user's file: its options say what it is
        spec, options = spec.configure(options or {}), None
    data_dir = Path(data_dir)
    X, y = read(spec, data_dir, mirror, verify_rows=verify_rows, seed=seed, options=options)
    indices = split_indices(spec.protocol if spec.protocol != "generated" else "holdout", y, split, seed,
                            _fold_dir(name, data_dir, mirror), spec.n_rows, spec.test_rows, tail_validation,
                            stratified=spec.task == "classification")
    if max_rows is not None and max_rows < len(X):
        indices = _subsample(indices, max_rows, len(X))
    categorical = categorical_columns(X)
    pre = Preprocessor(spec.task, categorical, seed=seed)
    X_train, y_train = pre.fit_transform(X.iloc[indices.train], y[indices.train])
    problem = Problem(spec.task, spec.metric, tuple(map(str, X.columns)), tuple(categorical),
                      pre.target_mean, pre.target_scale)

    def arrays(rows: np.ndarray) -> Arrays:
        return Arrays(pre.transform(X.iloc[rows]), pre.transform_target(y[rows]))

    return LoadedSplit(spec, X, y, indices, pre, problem, Arrays(X_train, y_train),
                       arrays(indices.val), arrays(indices.test))
