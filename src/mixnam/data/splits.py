"""The paper's evaluation protocols as index sets (train / val / test) for one split.

- holdout (Housing): the authors' and nbm-spam's two `train_test_split` calls with random_state 0,
  which give 14,447 / 2,065 / 4,128 rows; the same split for every seed.
- tail (Year): the last 51,630 rows are the test set (NODE's split); validation is NODE's
  `stratified_valid_idx.txt` when present, else a 20% carve-out with random_state=seed. With
  `validation="carve"` (fidelity=code) it is always the carve-out, from NODE's training rows when
  present: the authors' loader returns NODE's validation rows under a key their trainer never reads.
- cv (MIMIC-II/III, Income, Credit): NODE-GAM's fold files `train{k}.txt` / `test{k}.txt` when present,
  else deterministic StratifiedKFold(5, shuffle, random_state=1377); validation = stratified 20% of
  the training fold with random_state=seed (NAE). A regression target (the user's CSV) gets plain
  KFold and a plain 20% carve-out instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from mixnam.data.sources import check_text_file
from mixnam.errors import DataError

N_FOLDS = 5
FOLD_SEED = 1377  # NODE-GAM's seed for its validation carve-out; ours for generated folds
TAIL_VALIDATIONS = ("node_rows", "carve")  # Year: NODE's validation rows (paper) | a seeded 20% carve-out (code)


@dataclass(frozen=True)
class SplitIndices:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    source: str  # where the split came from, recorded in the run's metadata


def holdout(n_rows: int) -> SplitIndices:
    rows = np.arange(n_rows)
    train_val, test = train_test_split(rows, test_size=0.2, random_state=0, shuffle=True)
    train, val = train_test_split(train_val, test_size=0.1 / (0.1 + 0.7), random_state=0, shuffle=True)
    return SplitIndices(train, val, test, "fixed 70/10/20 split (train_test_split random_state=0 twice)")


FOLD_FILE_HELP = ("Fold files are NODE-GAM's (Chang et al., 2022), shared by its authors; delete the file to use "
                  "generated stratified folds instead (the run records which it used).")


def _read_index_file(path: Path, n_rows: int) -> np.ndarray:
    expected = "a fold file: one integer row index per line"
    try:
        check_text_file(path, expected)
        index = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except DataError as error:
        raise DataError(f"{error}. {FOLD_FILE_HELP}") from None
    except ValueError as error:
        raise DataError(f"{path} is not {expected} ({str(error).splitlines()[0]}). {FOLD_FILE_HELP}") from None
    if index.size == 0 or index.min() < 0 or index.max() >= n_rows:
        raise DataError(f"{path} holds row indices outside 0..{n_rows - 1}; it does not belong to this data. "
                        + FOLD_FILE_HELP)
    return index


def tail(n_rows: int, canonical_rows: int | None, test_rows: int, seed: int, fold_dir: Path,
         validation: str = "node_rows") -> SplitIndices:
    if validation not in TAIL_VALIDATIONS:
        raise DataError(f"fidelity.year_validation must be one of {', '.join(TAIL_VALIDATIONS)}; got {validation!r}")
    if canonical_rows and n_rows != canonical_rows:  # a reduced file (tests): keep the same proportion
        test_rows = round(n_rows * test_rows / canonical_rows)
    n_train = n_rows - test_rows
    test = np.arange(n_train, n_rows)
    train_file, valid_file = fold_dir / "stratified_train_idx.txt", fold_dir / "stratified_valid_idx.txt"
    have_files = train_file.is_file() and valid_file.is_file()
    if have_files and validation == "node_rows":
        return SplitIndices(_read_index_file(train_file, n_train), _read_index_file(valid_file, n_train), test,
                            f"last {test_rows} rows test; NODE's stratified train/valid index files")
    pool, origin = ((_read_index_file(train_file, n_train), "NODE's training rows (its validation rows unused)")
                    if have_files else (np.arange(n_train), "the rest (NODE's index files not found)"))
    train, val = train_test_split(pool, test_size=0.2, random_state=seed, shuffle=True)
    return SplitIndices(train, val, test,
                        f"last {test_rows} rows test; validation = 20% of {origin}, random_state={seed}")


def cross_validation(y: np.ndarray, fold: int, seed: int, fold_dir: Path, stratified: bool = True) -> SplitIndices:
    if not 0 <= fold < N_FOLDS:
        raise DataError(f"split={fold} is not a fold of 5-fold cross-validation; use split=0..4.")
    n_rows = len(y)
    train_file, test_file = fold_dir / f"train{fold}.txt", fold_dir / f"test{fold}.txt"
    if train_file.is_file() and test_file.is_file():
        train_fold, test = _read_index_file(train_file, n_rows), _read_index_file(test_file, n_rows)
        source = f"NODE-GAM fold files {train_file.name}/{test_file.name}"
    else:
        splitter = (StratifiedKFold if stratified else KFold)(N_FOLDS, shuffle=True, random_state=FOLD_SEED)
        train_fold, test = list(splitter.split(np.zeros(n_rows), y))[fold]
        source = (f"generated {'stratified ' * stratified}5-fold CV ({type(splitter).__name__} shuffle, "
                  f"random_state={FOLD_SEED}), fold {fold} - NODE-GAM's fold files not found")
    train, val = train_test_split(train_fold, test_size=0.2, random_state=seed,
                                  stratify=y[train_fold] if stratified else None)
    return SplitIndices(np.sort(train), np.sort(val), np.sort(test), source + f"; validation = "
                        f"{'stratified ' * stratified}20% of the training fold, random_state={seed}")


def split_indices(protocol: str, y: np.ndarray, split: int, seed: int, fold_dir: Path,
                  canonical_rows: int | None = None, test_rows: int | None = None,
                  tail_validation: str = "node_rows", stratified: bool = True) -> SplitIndices:
    if protocol == "holdout":
        return holdout(len(y))
    if protocol == "tail":
        return tail(len(y), canonical_rows, test_rows, seed, fold_dir, tail_validation)
    if protocol == "cv":
        return cross_validation(y, split, seed, fold_dir, stratified)
    raise ValueError(f"unknown protocol {protocol!r}")
