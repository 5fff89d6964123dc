"""Data layer: `load(...)` returns one split of one dataset, preprocessed and ready for any model."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mixnam.contracts import Arrays, Problem
from mixnam.data import csv, decoy, synthetic  # noqa: F401  (register the user's CSV and the generated datasets)
from mixnam.data.cache import cache_key, cached
from mixnam.data.datasets import (
    DATASETS,
    DatasetSpec,
    get_spec,
    raw_content,
    raw_paths,
    read,
)
from mixnam.data.preprocess import (
    N_QUANTILES,
    QUANTILE_NOISE,
    Preprocessor,
    categorical_columns,
)
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


def _split_and_preprocess(spec: DatasetSpec, X: pd.DataFrame, y: np.ndarray, split: int, seed: int,
                          fold_dir: Path, max_rows: int | None, tail_validation: str) -> dict:
    """Everything of a LoadedSplit beyond the raw data: index sets, fitted preprocessor, arrays."""
    indices = split_indices(spec.protocol if spec.protocol != "generated" else "holdout", y, split, seed,
                            fold_dir, spec.n_rows, spec.test_rows, tail_validation,
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

    return {"indices": indices, "preprocessor": pre, "problem": problem, "train": Arrays(X_train, y_train),
            "val": arrays(indices.val), "test": arrays(indices.test)}


def load(name: str, split: int = 0, seed: int = 0, data_dir: str | Path = "data", mirror: str | None = None,
         max_rows: int | None = None, verify_rows: bool = True, options: dict | None = None,
         tail_validation: str = "node_rows", cache_dir: str | Path | None = None) -> LoadedSplit:
    """One split, preprocessed; `tail_validation` picks Year's validation rows (`fidelity.year_validation`).

    With a `cache_dir`, a file-backed dataset's parse and each split's preprocessing are computed once and
    then read back (`mixnam.data.cache`); the user's CSV and generated datasets are not cached (their
    options, not only their bytes, decide what they are)."""
    spec = get_spec(name)
    if spec.configure is not None:  # the user's file: its options say what it is
        spec, options, cache_dir = spec.configure(options or {}), None, None
    data_dir = Path(data_dir)
    X, y = read(spec, data_dir, mirror, verify_rows=verify_rows, seed=seed, options=options, cache_dir=cache_dir)
    fold_dir = _fold_dir(name, data_dir, mirror)
    compute = functools.partial(_split_and_preprocess, spec, X, y, split, seed, fold_dir, max_rows, tail_validation)
    if cache_dir is None or spec.generator is not None:  # a generated dataset is made from the seed in memory
        return LoadedSplit(spec, X, y, **compute())
    key = cache_key(dataset=name, files=raw_content(raw_paths(spec, data_dir, mirror)), split=split, seed=seed,
                    max_rows=max_rows, tail_validation=tail_validation,
                    split_files=raw_content({p.name: p for p in sorted(fold_dir.glob("*.txt"))}),
                    preprocessing={"n_quantiles": N_QUANTILES, "quantile_noise": QUANTILE_NOISE})
    return LoadedSplit(spec, X, y, **cached(cache_dir, f"{name}-split", key, compute))
