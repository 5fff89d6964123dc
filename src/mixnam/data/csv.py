"""The user's own CSV file as a dataset of the harness: `run.py dataset=csv dataset.path=... dataset.target=...`.

Its options (`conf/dataset/csv.yaml`) say what the file is: `path`, `target`, `task` (regression or
classification; inferred when null: a non-numeric target or one with two values is a classification),
`categorical` (numeric columns to treat as categories; non-numeric columns always are) and `protocol`:
- `kfold`: 5-fold cross-validation (stratified for classification), validation a (stratified) 20%
  of each training fold with random_state = seed, as the paper's MIMIC/Income/Credit protocol;
- `holdout`: one fixed 70/10/20 split (random_state 0), as Housing's.
Classification is binary (the harness scores AUC of one logit): the larger of the two sorted labels is
the positive class ("yes" of no/yes, 1 of 0/1). Every problem with the file is found before any work
starts and named with its fix.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from mixnam.data.datasets import DatasetSpec, register
from mixnam.data.splits import N_FOLDS
from mixnam.errors import DataError

PROTOCOLS = {"kfold": "cv", "holdout": "holdout"}
METRICS = {"regression": "rmse", "classification": "auc"}
MIN_ROWS = 25  # fewer leave a validation part of 2 or 3 rows
MIN_PER_CLASS = 2 * N_FOLDS  # every fold's training part keeps >= 2 of each class for its stratified validation


def _column(frame: pd.DataFrame, column: str, path: Path, key: str) -> str:
    if column not in frame.columns:
        close = difflib.get_close_matches(str(column), list(map(str, frame.columns)), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DataError(f"{path} has no column {column!r} (dataset.{key}).{hint} Its columns are "
                        f"{list(frame.columns)[:20]}; set dataset.{key}= to one of them.")
    return column


def read_file(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"dataset.path={path} is not a file (looked in {Path.cwd()} for a relative path). "
                        "Give the path of your CSV file.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a CSV file pandas can read ({type(error).__name__}: {error}). Give a "
                        "comma-separated text file with a header row of column names.") from None
    if frame.shape[1] < 2:
        raise DataError(f"{path} reads as {frame.shape[1]} column: it is not comma separated or has no features. "
                        "Give a comma-separated file with a header row, the target and at least one feature.")
    return frame


def infer_task(y: pd.Series) -> str:
    """Non-numeric or two-valued targets are classifications; other numbers are regressions."""
    return "classification" if not pd.api.types.is_numeric_dtype(y) or y.nunique() == 2 else "regression"


def _target(y: pd.Series, task: str, path: Path, protocol: str) -> np.ndarray:
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y):
            raise DataError(f"the target column {y.name!r} of {path} is not numeric, so it cannot be a regression "
                            "target. Set dataset.task=classification or pick a numeric dataset.target=.")
        return y.to_numpy(dtype=np.float64)
    labels = np.sort(y.unique())
    if len(labels) != 2:
        what = "a single class" if len(labels) == 1 else f"{len(labels)} classes ({list(labels[:5])}...)"
        raise DataError(f"the target column {y.name!r} of {path} has {what}; classification here is binary (AUC "
                        "of one logit). Give a target with two labels, or set dataset.task=regression.")
    counts = y.value_counts()
    if protocol == "kfold" and counts.min() < MIN_PER_CLASS:
        raise DataError(f"{path}: the label {counts.idxmin()!r} has {counts.min()} rows, too few for {N_FOLDS} "
                        f"stratified folds with a validation part (at least {MIN_PER_CLASS} per class). Add rows "
                        "or use dataset.protocol=holdout.")
    return (y == labels[1]).to_numpy(dtype=np.int64)


def configure(options: dict) -> DatasetSpec:
    """The concrete spec of the file named by `options` (read and checked here, once)."""
    path, target = options.get("path"), options.get("target")
    if path is None or target is None:
        raise DataError("dataset=csv needs the file and its target column: dataset.path=<file.csv> "
                        "dataset.target=<column> (optional: dataset.task=, dataset.categorical=[...], "
                        "dataset.protocol=kfold|holdout).")
    protocol, task = options.get("protocol", "kfold"), options.get("task")
    if protocol not in PROTOCOLS:
        raise DataError(f"dataset.protocol={protocol} is not a protocol; use kfold or holdout.")
    if task not in (None, *METRICS):
        raise DataError(f"dataset.task={task} is not a task; use regression, classification or null (inferred).")
    path = Path(path)
    frame = read_file(path)
    y = frame.pop(_column(frame, target, path, "target"))
    if y.isna().any():
        raise DataError(f"{int(y.isna().sum())} rows of {path} have no {target!r} value; drop those rows.")
    if len(frame) < MIN_ROWS:
        raise DataError(f"{path} has {len(frame)} rows, too few for train, validation and test parts (at least "
                        f"{MIN_ROWS}). Add rows.")
    for column in options.get("categorical") or ():
        frame[_column(frame, column, path, "categorical")] = frame[column].astype(str)
    task = task or infer_task(y)
    labels = _target(y, task, path, protocol)
    return DatasetSpec(name="csv", task=task, metric=METRICS[task], protocol=PROTOCOLS[protocol], files=(),
                       reader=None, n_rows=None, n_features=frame.shape[1],
                       generator=lambda seed: (frame, labels))


register(DatasetSpec(name="csv", task="from options", metric="from options", protocol="from options", files=(),
                     reader=None, n_rows=None, n_features=0, configure=configure))
