"""MixNAM on your own table: scikit-learn estimators built on the harness.

    from mixnam import MixNAMClassifier
    model = MixNAMClassifier().fit(X, y)            # X: a DataFrame (numeric and categorical) or an array
    model.predict_proba(X); model.explain(X); model.plot(X); model.save("model.pt")

They are the harness, not a copy of it: the same preprocessing (`mixnam.data.preprocess`, fitted
inside `fit` on the training rows only, so a `Pipeline` or `cross_val_score` never leaks), the same
models and training loop (`mixnam.training.lightning`: AdamW, cosine schedule, early stopping on a
validation part, the best-validation weights), the same explanations (`mixnam.explain`).

- `fit(X, y, X_val=None, y_val=None)`: `early_stopping="auto"` (as scikit-learn's HistGradientBoosting)
  stops early above 10,000 rows or when given (X_val, y_val): without them, a seeded
  `validation_fraction` of the rows is carved out (of each class for classifiers, as the harness
  protocol's stratified split, and at least one row of each). A smaller table trains on every row for
  the whole budget and keeps the last epoch: a validation part of a few dozen rows costs a fifth of
  the data and picks its epoch by noise (`_early_stopping_on`).
  Non-numeric columns (text, `category`; cast a coded integer column to `category`) are categorical.
- Hyper-parameters are constructor arguments, defaulting to the paper's Housing settings (Table 5)
  except the epoch budget, `max_epochs=100` (minutes on a laptop; the paper's budget is 1,000), and,
  below 10,000 training rows, `batch_size` (and `patience`), chosen from the row count (`_resolve_schedule`).
  `n_experts`/`top_k` default to each variant's (MixNAM 4/4, MixNAM-D 64/64, MixNAM-E 32/16).
  NAM is MixNAM's encoders with one linear head per feature and no router (its `dropout_expert`
  drops whole features); `n_experts`, `top_k` and `variation_penalty` are the MixNAM family's only.
- Bad input stops with one `ValueError` (`mixnam.errors.InputError`) naming the problem and the fix,
  before any work: mismatched lengths, NaN/inf (naming the columns; `impute="median"` or `"mean"`
  fills numeric columns with the training rows' statistic instead), columns at predict time that
  differ from those seen by `fit`. A category unseen in training is encoded as the training target
  mean (no evidence either way), a missing one as missing values were in training (else the mean).
- `save(path)` / `load(path)`: one file with the weights, the fitted preprocessing (plain numbers),
  the hyper-parameters and the versions, read back with `torch.load(weights_only=True)`.
- Classification is binary (one logit, as in the paper); wrap a multi-class problem in
  `sklearn.multiclass.OneVsRestClassifier`.
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _num_samples,
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from mixnam.contracts import Arrays, Problem
from mixnam.data.preprocess import Preprocessor, categorical_columns
from mixnam.errors import InputError
from mixnam.explain import ShapeFunctions, shape_functions
from mixnam.sweeps import CONF_DIR
from mixnam.training.lightning import NeuralEstimator
from mixnam.validation import setting_problems, whole

SAVE_FORMAT = 1  # bump when the saved file's layout changes; load refuses other formats by name
MIN_SAMPLES = 5
MIN_BATCH, MAX_BATCH = 16, 2048  # the data-driven batch size's bounds (2048: the paper's Housing setting)
STEPS_PER_EPOCH = 32  # below LARGE_TABLE rows, the batch size gives about this many optimiser steps an epoch
PATIENCE_STEPS = 300  # early stopping waits at least this many optimiser steps (see `_resolve_schedule`)
LARGE_TABLE = 10_000  # more rows than this: early stopping, the paper's Housing batch and patience (Table 5)
IMPUTE = ("median", "mean")
# The variants: the harness model each builds and its expert defaults (C, K), paper Tables 5, 7, 9.
EXPERTS = {"mixnam": (4, 4), "mixnam_d": (64, 64), "mixnam_e": (32, 16)}
VARIANT_SWITCHES = {"mixnam_d": {"diagonal_routing": True, "gumbel_tau": 0.1}, "mixnam_e": {"even_weights": True}}
# Each hyper-parameter obeys the rule of the config key it sets (mixnam.validation.RULES), or its own;
# None, where allowed, lets the estimator choose (experts from the variant, batch size and patience from the rows).
SETTING_RULES = {"n_layers": "model.n_layers", "hidden_dim": "model.hidden_dim", "n_experts": "model.n_experts",
                 "top_k": "model.top_k", "dropout": "model.dropout", "dropout_expert": "model.dropout_expert",
                 "output_penalty": "model.output_penalty", "variation_penalty": "model.variation_penalty",
                 "normalization": "model.normalization", "batch_size": "model.batch_size", "lr": "model.lr",
                 "weight_decay": "model.weight_decay",
                 "max_epochs": whole("max_epochs", 1, "the epoch budget"),
                 "patience": whole("patience", 1, "epochs without a better validation score before stopping")}
CHOSEN_WHEN_NONE = ("n_experts", "top_k", "batch_size", "patience")


def versions() -> dict[str, str]:
    """What a saved file was written with (checked by `load`, recorded for the user)."""
    found = {}
    for package in ("mixnam", "torch", "scikit-learn", "numpy", "pandas"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _plain(value: Any) -> Any:
    """numpy scalars (a parameter grid from np.arange) as the Python numbers OmegaConf takes, in dicts too."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value.item() if isinstance(value, np.generic) else value


@contextmanager
def lightning_output(verbose: bool) -> Iterator[None]:
    """Lightning's banners and hints only when `verbose` (its progress bar follows the same flag)."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"lightning\..*")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@dataclass
class ExplainedRows:
    """The rows to explain as `shape_functions` reads a harness split: raw frame, its preprocessing."""

    X: pd.DataFrame
    preprocessor: Preprocessor
    problem: Problem


class NeuralAdditiveEstimator(BaseEstimator):
    """MixNAM, MixNAM-D, MixNAM-E or NAM (the class attribute `variant`) with scikit-learn's interface."""

    variant = "mixnam"
    task = "regression"

    def __init__(self, *, n_layers: int = 4, hidden_dim: int = 128, n_experts: int | None = None,
                 top_k: int | None = None, dropout: float = 0.1, dropout_expert: float = 0.2,
                 output_penalty: float = 1.97e-5, variation_penalty: float = 0.1, normalization: str = "layer_norm",
                 batch_size: int | None = None, lr: float = 5.97e-4, weight_decay: float = 5.29e-5,
                 max_epochs: int = 100, patience: int | None = None, early_stopping: bool | str = "auto",
                 validation_fraction: float = 0.2, impute: str | None = None, device: str = "cpu",
                 precision: str = "32-true", random_state: int | None = 0, verbose: bool = False):
        self.n_layers, self.hidden_dim, self.n_experts, self.top_k = n_layers, hidden_dim, n_experts, top_k
        self.dropout, self.dropout_expert = dropout, dropout_expert
        self.output_penalty, self.variation_penalty = output_penalty, variation_penalty
        self.normalization = normalization
        self.batch_size, self.lr, self.weight_decay, self.max_epochs = batch_size, lr, weight_decay, max_epochs
        self.patience, self.early_stopping = patience, early_stopping
        self.validation_fraction, self.impute = validation_fraction, impute
        self.device, self.precision, self.random_state, self.verbose = device, precision, random_state, verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.impute is not None
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    # ------------------------------------------------------------------------------------- settings
    def _model_config(self) -> dict[str, Any]:
        """The harness's model config (`conf/model/<variant>.yaml` keys) these hyper-parameters make (before
        `fit`, an unset batch size reads as the paper's 2048)."""
        common = {"dropout": self.dropout, "output_penalty": self.output_penalty, "normalization": self.normalization,
                  "batch_size": getattr(self, "batch_size_", self.batch_size or MAX_BATCH), "lr": self.lr, "weight_decay": self.weight_decay,
                  "max_epochs": self.max_epochs}
        if self.variant == "nam":
            return {"name": "nam", "hidden_dims": [self.hidden_dim] * self.n_layers,
                    "feature_dropout": self.dropout_expert, **common}
        experts, top_k = EXPERTS[self.variant]
        return {"name": self.variant, "n_layers": self.n_layers, "hidden_dim": self.hidden_dim,
                "n_experts": self.n_experts or experts, "top_k": self.top_k or top_k,
                "dropout_expert": self.dropout_expert, "variation_penalty": self.variation_penalty,
                **VARIANT_SWITCHES.get(self.variant, {}), **common}

    def _accelerator(self) -> str:
        if self.device not in ("cpu", "cuda", "auto"):
            raise InputError(f"device={self.device!r} is not a device; use 'cpu', 'cuda' or 'auto'.")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise InputError("device='cuda' but no CUDA device is visible (torch.cuda.is_available() is False); "
                             "use device='cpu' or 'auto', or install a CUDA build of torch.")
        return self.device  # `auto` is resolved where every run's device is: mixnam.devices.run_device

    def _run_config(self, run_dir: str, seed: int):
        """The run config `NeuralEstimator` reads: the model, the harness's trainer settings, a scratch dir."""
        return OmegaConf.create(_plain({
            "seed": seed, "run_dir": run_dir, "resume": False, "logger": {"name": "csv"},
            "model": self._model_config(),
            # the harness's CPU trainer settings (one source), with this estimator's own choices on top
            "trainer": {**OmegaConf.to_container(OmegaConf.load(CONF_DIR / "trainer" / "cpu.yaml")),
                        "max_epochs": self.max_epochs, "accelerator": self._accelerator(), "precision": self.precision,
                        # patience() takes a share of the budget: this share gives back `patience_` epochs exactly
                        "patience_fraction": (getattr(self, "patience_", self.max_epochs // 4) + 0.5) / self.max_epochs,
                        "checkpoint_every_n_epochs": self.max_epochs + 1,  # no resumable checkpoint
                        "enable_progress_bar": bool(self.verbose)}}))

    def _check_settings(self) -> None:
        if self.impute not in (None, *IMPUTE):
            raise InputError(f"impute={self.impute!r} is not a choice; use None (NaN/inf is an error), 'median' "
                             "or 'mean'.")
        if self.early_stopping not in (True, False, "auto"):
            raise InputError(f"early_stopping={self.early_stopping!r} is not a choice; use 'auto' (on above "
                             f"{LARGE_TABLE:,} rows or with X_val), True or False.")
        if not 0 < self.validation_fraction < 1:
            raise InputError(f"validation_fraction={self.validation_fraction} must lie strictly between 0 and 1.")
        settings = {name: getattr(self, name) for name in SETTING_RULES
                    if not (name in CHOSEN_WHEN_NONE and getattr(self, name) is None)}
        if problems := setting_problems(settings, SETTING_RULES):
            raise InputError(" ".join(problems) + " Fix the hyper-parameter(s) named; None, where the docstring "
                             "allows it, lets the estimator choose from the data.")

    def _early_stopping_on(self, n_rows: int, validation_given: bool) -> bool:
        """`early_stopping="auto"`: on with (X_val, y_val) or above LARGE_TABLE rows, as scikit-learn's
        HistGradientBoosting. On breast cancer (398 rows, `hidden_dim=32, max_epochs=20`, seeds 0-9) a carved
        validation part of 80 rows saturates at AUC 1 within a few epochs and keeps an early, undertrained
        epoch: test AUC 0.985; every row for the whole budget: see docs/own-data.md#small-tables."""
        if self.early_stopping == "auto":
            return validation_given or n_rows > LARGE_TABLE
        if validation_given and not self.early_stopping:
            raise InputError("X_val, y_val are for early stopping, which early_stopping=False turns off; drop them, "
                             "or set early_stopping=True (or 'auto').")
        return bool(self.early_stopping)

    def _resolve_schedule(self, n_train: int) -> None:
        """`batch_size_` and `patience_` for `n_train` training rows, unless given. Above LARGE_TABLE rows
        (Housing's 14,448 and larger) the paper's Housing settings: batch 2048 and patience a quarter of the
        budget. Smaller tables: about STEPS_PER_EPOCH steps an epoch (a power of two, 16 to 2048), so a
        400-row table is not one step an epoch, and, when stopping early, patience of at least a quarter of
        the budget and PATIENCE_STEPS optimiser steps, so a small table's noisy validation score does not
        stop training in its first epochs. Measured in docs/own-data.md#small-tables."""
        if n_train > LARGE_TABLE:
            self.batch_size_ = int(self.batch_size or MAX_BATCH)
            self.patience_ = int(self.patience or max(self.max_epochs // 4, 1))
            return
        self.batch_size_ = int(self.batch_size or np.clip(2 ** round(math.log2(max(n_train, 1) / STEPS_PER_EPOCH)),
                                                          MIN_BATCH, MAX_BATCH))
        steps = math.ceil(n_train / self.batch_size_)
        self.patience_ = int(self.patience or min(self.max_epochs, max(self.max_epochs // 4, 1,
                                                                       math.ceil(PATIENCE_STEPS / steps))))

    # ---------------------------------------------------------------------------------------- input
    def _frame(self, X, reset: bool) -> pd.DataFrame:
        """X as a DataFrame with the fitted columns, checked: shape, names, dtypes and NaN/inf (unless imputed)."""
        if isinstance(X, pd.DataFrame):
            try:
                validate_data(self, X, reset=reset, skip_check_array=True)
            except ValueError as error:  # other columns than fit's: sklearn names them, we add the fix
                if reset:
                    raise
                raise InputError(f"{error} Give X the columns fit saw, in its order: {self.feature_names_}.") from None
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise InputError(f"X has shape {X.shape}; give at least one row and one column.")
            frame = X.copy()
        else:  # an object array (a ColumnTransformer's output) keeps its text columns as text: categorical
            checked = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
            frame = pd.DataFrame(checked).infer_objects() if checked.dtype == object else pd.DataFrame(checked)
        if reset:
            self.feature_names_ = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else \
                [f"x{i}" for i in range(frame.shape[1])]
            self.categorical_ = categorical_columns(frame.set_axis(self.feature_names_, axis=1))
        frame.columns = self.feature_names_  # an array after a DataFrame fit (or the reverse) is positional
        for column in self.categorical_:  # categories as text, missing ones kept missing
            frame[column] = frame[column].astype(str).where(frame[column].notna())
        numeric = [c for c in frame.columns if c not in self.categorical_]
        text = [c for c in numeric if not pd.api.types.is_numeric_dtype(frame[c])
                and pd.to_numeric(frame[c], errors="coerce").isna().gt(frame[c].isna()).any()]
        if text:
            raise InputError(f"column(s) {text} hold text, but were numeric when fit saw them; give numbers there, or "
                             "refit with those columns as text (or `category`).")
        frame[numeric] = frame[numeric].astype(np.float64).replace([np.inf, -np.inf], np.nan)
        bad = [c for c in numeric if frame[c].isna().any()]
        if bad and self.impute is None:
            raise InputError(
                f"X has NaN or inf in column(s) {bad} ({int(frame[bad].isna().any(axis=1).sum())} rows). Drop or "
                "fill those values, or let the estimator fill them with the training rows' statistic: "
                "impute='median' (or 'mean').")
        return frame

    def _fit_fill(self, X: pd.DataFrame) -> None:
        """impute: each numeric column's statistic over the training rows (never the validation rows)."""
        numeric = [c for c in X.columns if c not in self.categorical_]
        fill = X[numeric].agg(self.impute) if self.impute else pd.Series(dtype=np.float64)
        empty = [c for c in fill.index if not np.isfinite(fill[c])]
        if empty:
            raise InputError(f"column(s) {empty} have no finite value to impute from; drop them.")
        self.fill_values_ = {c: float(v) for c, v in fill.items()}

    def _fill(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.fillna(self.fill_values_) if self.fill_values_ else frame

    def _target(self, y) -> np.ndarray:
        if y is None:
            raise InputError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        y = column_or_1d(y, warn=True)
        if self.task == "regression":
            return check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        check_classification_targets(y)
        return y

    def _checked(self, X, y, reset: bool) -> tuple[pd.DataFrame, np.ndarray]:
        if y is not None and _num_samples(X) != _num_samples(y):
            raise InputError(f"X has {_num_samples(X)} rows but y has {_num_samples(y)} values; give one target value "
                             "per row of X.")
        return self._frame(X, reset), self._target(y)

    def _model_units(self, y: np.ndarray) -> np.ndarray:
        """The target as the harness models it: numbers for regression, 0/1 for the positive class."""
        return y

    def _split(self, X: pd.DataFrame, y: np.ndarray, seed: int):
        """The seeded validation part for early stopping: `validation_fraction` of the rows, of each class for
        classifiers and at least one of each, so the validation AUC exists even on a small, skewed table."""
        rows = np.arange(len(X))
        n_val = math.ceil(self.validation_fraction * len(X))
        if len(X) - n_val < 2:
            raise InputError(f"got {len(X)} samples; too few to carve a validation part of {self.validation_fraction} "
                             "for early stopping. Give more rows, X_val and y_val, or early_stopping=False.")
        if self.task == "regression":
            val = train_test_split(rows, test_size=n_val, random_state=seed)[1]
        else:
            labels, counts = np.unique(y, return_counts=True)
            if counts.min() < 2:
                raise InputError(f"the class {labels[counts.argmin()].item()!r} has 1 row; the validation part needs "
                                 "a row of each class and training another. Add rows (or give X_val, y_val).")
            rng = np.random.default_rng(seed)
            val = np.concatenate([rng.permutation(rows[y == label])[:max(1, round(self.validation_fraction * count))]
                                  for label, count in zip(labels, counts)])
        train = np.setdiff1d(rows, val)
        return X.iloc[train], X.iloc[val], y[train], y[val]

    # ------------------------------------------------------------------------------------------ fit
    def fit(self, X, y, X_val=None, y_val=None):
        """Fit on (X, y), early-stopping on (X_val, y_val) or on a seeded part of (X, y) when
        `early_stopping` says so (`_early_stopping_on`), else on all of (X, y) for `max_epochs`; returns self."""
        self._check_settings()
        X, y = self._checked(X, y, reset=True)
        if len(X) < MIN_SAMPLES:
            raise InputError(f"got {len(X)} sample{'s' * (len(X) != 1)}; fitting needs at least {MIN_SAMPLES}. "
                             "Give more rows.")
        self._fit_classes(y)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        if (X_val is None) != (y_val is None):
            raise InputError("give both X_val and y_val, or neither (a validation part is then carved from X).")
        stopping = self._early_stopping_on(len(X), X_val is not None)
        if X_val is not None:
            X_val, y_val = self._checked(X_val, y_val, reset=False)
        elif stopping:
            X, X_val, y, y_val = self._split(X, y, seed)
        self._fit_fill(X)
        self._resolve_schedule(len(X))
        self.preprocessor_ = Preprocessor(self.task, self.categorical_, seed=seed)
        train = Arrays(*self.preprocessor_.fit_transform(self._fill(X), self._model_units(y)))
        val = None if X_val is None else Arrays(self.preprocessor_.transform(self._fill(X_val)),
                                                self.preprocessor_.transform_target(self._model_units(y_val)))
        problem = Problem(self.task, "rmse" if self.task == "regression" else "auc", tuple(self.feature_names_),
                          tuple(self.categorical_), self.preprocessor_.target_mean, self.preprocessor_.target_scale)
        with tempfile.TemporaryDirectory(prefix="mixnam-fit-") as run_dir, lightning_output(self.verbose):
            self.network_ = NeuralEstimator(self._run_config(run_dir, seed), problem)
            summary = self.network_.fit(train, val)
        self.best_epoch_, self.epochs_run_ = summary.best_epoch, summary.epochs_run
        return self

    def _fit_classes(self, y: np.ndarray) -> None:
        """Classifiers: the labels (two) and which is positive."""

    # -------------------------------------------------------------------------------------- predict
    def _rows(self, X) -> pd.DataFrame:
        check_is_fitted(self, "network_")
        return self._fill(self._frame(X, reset=False))

    def _predict_model_units(self, X) -> np.ndarray:
        """Standardised target (regression) or P(positive class), as the harness's estimators predict."""
        rows = self._rows(X)
        return self.network_.predict(self.preprocessor_.transform(rows))

    # -------------------------------------------------------------------------------------- explain
    def model_inputs(self, X) -> tuple[NeuralEstimator, np.ndarray, list[str]]:
        """What `mixnam.explain.interactions` explains: the fitted network (its logit, or the standardised
        target), the raw rows `X` checked and preprocessed into its units, and the column names."""
        rows = self._rows(X)  # first: an unfitted estimator is told so (NotFittedError), not AttributeError
        return self.network_, self.preprocessor_.transform(rows).astype(np.float64), list(self.feature_names_)

    def explain(self, X, grid_size: int = 128, max_rows: int | None = 50_000) -> ShapeFunctions:
        """Per feature: the shape function on a grid in the feature's units, and for the MixNAM family the
        experts' upper/lower bounds (Eq. 9) and every row's routed contribution; plain arrays."""
        rows = ExplainedRows(self._rows(X), self.preprocessor_, self.network_.problem)
        return shape_functions(self.network_, rows, grid_size=grid_size, max_rows=max_rows)

    def plot(self, X, feature: str | None = None, experts: bool = False, **explain_args):
        """A matplotlib Figure: every feature's shape (Figure 3 style), or one `feature` (its experts with
        `experts=True`). Save it with `fig.savefig(...)`."""
        from mixnam.explain.plots import shape_grid, single

        shapes = self.explain(X, **explain_args)
        title = type(self).__name__
        return shape_grid(shapes, title=title) if feature is None else single(shapes[feature], experts, title)

    # ---------------------------------------------------------------------------------- save / load
    def save(self, path: str | Path) -> Path:
        """Write weights, preprocessing, hyper-parameters and versions to one file (atomically)."""
        check_is_fitted(self, "network_")
        path = Path(path)
        payload = {
            "format": SAVE_FORMAT, "versions": versions(), "class": type(self).__name__, "params": self.get_params(),
            "feature_names": self.feature_names_, "names_given": hasattr(self, "feature_names_in_"),
            "categorical": self.categorical_, "fill_values": self.fill_values_,
            "classes": self.classes_.tolist() if hasattr(self, "classes_") else None,
            "preprocessing": self.preprocessor_.state(), "problem": asdict(self.network_.problem),
            "seed": int(self.network_.cfg.seed),
            "fit": {"best_epoch": self.best_epoch_, "epochs_run": self.epochs_run_},
            "weights": {k: v.detach().cpu() for k, v in self.network_.model.state_dict().items()},
        }
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            torch.save(payload, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> NeuralAdditiveEstimator:
        """The estimator `save` wrote, ready to predict and explain."""
        payload = _read(path)
        saved = ESTIMATORS.get(payload.get("class"))
        if saved is None or not issubclass(saved, cls):
            raise InputError(f"{path} holds a {payload.get('class')}, not a {cls.__name__}; load it with "
                             f"{payload.get('class')}.load or NeuralAdditiveEstimator.load.")
        estimator = saved(**payload["params"])
        if estimator.device == "cuda" and not torch.cuda.is_available():
            estimator.device = "cpu"  # trained on a GPU, predicting here
        estimator.feature_names_, estimator.categorical_ = payload["feature_names"], payload["categorical"]
        estimator.n_features_in_ = len(estimator.feature_names_)
        if payload["names_given"]:
            estimator.feature_names_in_ = np.asarray(estimator.feature_names_, dtype=object)
        estimator.fill_values_ = payload["fill_values"]
        if payload["classes"] is not None:
            estimator.classes_ = np.asarray(payload["classes"])
        estimator.preprocessor_ = Preprocessor.from_state(payload["preprocessing"])
        problem = Problem(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload["problem"].items()})
        with tempfile.TemporaryDirectory(prefix="mixnam-load-") as run_dir:
            estimator.network_ = NeuralEstimator(estimator._run_config(run_dir, payload["seed"]), problem)
        try:
            estimator.network_.model.load_state_dict(payload["weights"])
        except RuntimeError as error:
            raise InputError(f"{path}'s weights do not fit this version's {saved.__name__} ({error}). It was saved "
                             f"with {payload['versions']}; this is {versions()}: load it with those.") from None
        estimator.best_epoch_, estimator.epochs_run_ = payload["fit"]["best_epoch"], payload["fit"]["epochs_run"]
        return estimator


def _read(path: str | Path) -> dict:
    """The saved payload, with an error naming the versions when this installation cannot read it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} is not a file; give the path `save` wrote.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same explanation
        raise InputError(f"{path} cannot be read as a saved mixnam estimator ({type(error).__name__}: {error}). It is "
                         f"not one, or was written by versions other than these: {versions()}.") from None
    if not isinstance(payload, dict) or "versions" not in payload:
        raise InputError(f"{path} is a torch file, but not one a mixnam estimator saved (no format or versions in "
                         "it); give the path `save` wrote.")
    if payload.get("format") != SAVE_FORMAT:
        found, written = payload.get("format"), payload["versions"].get("mixnam", "unknown")
        raise InputError(f"{path} was saved by mixnam {written} in file format {found}; this is mixnam "
                         f"{versions()['mixnam']}, which reads format {SAVE_FORMAT}. Install mixnam=={written} to "
                         "load it, or refit and save again.")
    return payload


class NeuralAdditiveRegressor(RegressorMixin, NeuralAdditiveEstimator):
    """Regression: `predict` returns the target in its own units; `score` is R^2."""

    def predict(self, X) -> np.ndarray:
        standardised = self._predict_model_units(X)  # first: it says when the estimator is not fitted
        return self.network_.problem.to_original_units(standardised)


class NeuralAdditiveClassifier(ClassifierMixin, NeuralAdditiveEstimator):
    """Binary classification: `predict_proba` columns follow `classes_` (sorted); `score` is accuracy."""

    task = "classification"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _fit_classes(self, y: np.ndarray) -> None:
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            what = "only 1 class" if len(self.classes_) == 1 else f"{len(self.classes_)} classes"
            raise InputError(f"y has {what} ({self.classes_[:5].tolist()}). Only binary classification is supported "
                             f"by {type(self).__name__} (one logit): give two classes, or wrap it in "
                             "sklearn.multiclass.OneVsRestClassifier for more.")

    def _model_units(self, y: np.ndarray) -> np.ndarray:
        unknown = set(np.unique(y).tolist()) - set(self.classes_.tolist())
        if unknown:
            raise InputError(f"y_val has labels {sorted(unknown)} that y lacks ({self.classes_.tolist()}).")
        return (y == self.classes_[1]).astype(np.float64)

    def predict_proba(self, X) -> np.ndarray:
        positive = self._predict_model_units(X)
        return np.column_stack([1 - positive, positive])

    def predict(self, X) -> np.ndarray:
        positive = self._predict_model_units(X) > 0.5  # first: it says when the estimator is not fitted
        return self.classes_[positive.astype(int)]


def named_pair(name: str, variant: str, doc: str) -> tuple[type, type]:
    """The thin regressor and classifier of one variant: only the class attribute `variant` differs."""
    return tuple(type(f"{name}{kind}", (base,), {"variant": variant, "__doc__": doc, "__module__": __name__})
                 for kind, base in (("Regressor", NeuralAdditiveRegressor), ("Classifier", NeuralAdditiveClassifier)))


MixNAMRegressor, MixNAMClassifier = named_pair(
    "MixNAM", "mixnam", "MixNAM (paper Section 3): per feature C experts, mixed by a router that sees every feature.")
MixNAMDRegressor, MixNAMDClassifier = named_pair(
    "MixNAMD", "mixnam_d", "MixNAM-D (Appendix G): each feature routes on itself (Gumbel-softmax in training).")
MixNAMERegressor, MixNAMEClassifier = named_pair(
    "MixNAME", "mixnam_e", "MixNAM-E (Appendix H): even weights over the top-K experts.")
NAMRegressor, NAMClassifier = named_pair(
    "NAM", "nam", "NAM: one network per feature, summed (MixNAM with one expert and no router).")

ESTIMATORS = {cls.__name__: cls for cls in (
    MixNAMRegressor, MixNAMClassifier, MixNAMDRegressor, MixNAMDClassifier, MixNAMERegressor, MixNAMEClassifier,
    NAMRegressor, NAMClassifier)}
