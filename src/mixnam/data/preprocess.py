"""Preprocessing fitted on the training rows only (the reference code's recipe).

Categorical columns -> leave-one-out target encoding (category-encoders), applied to every part,
training rows included, *without* their labels, as NODE-GAM's `MyPreprocessor` does: a row's own
label left out of its category mean would encode the label itself (within a category, positives get
a lower value than negatives) and trees learn that inverted leak; every column -> quantile
transform to a normal distribution (2000 quantiles, fitted on a copy with 1e-3 relative Gaussian
noise so ties and categorical codes spread out); regression target -> standardised, inverted for
metrics. Nothing here ever sees validation or test rows while fitting.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from category_encoders import LeaveOneOutEncoder
from sklearn.preprocessing import QuantileTransformer

from mixnam.errors import DataError


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """Non-numeric columns (pandas >= 3 reads text as `str`, so never test `dtype == object`)."""
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


def check_finite(X: pd.DataFrame, what: str) -> None:
    numeric = X.select_dtypes("number")
    bad = numeric.columns[~np.isfinite(numeric.to_numpy(dtype=np.float64)).all(axis=0)]
    if len(bad):
        rows = int((~np.isfinite(numeric[bad].to_numpy(dtype=np.float64))).any(axis=1).sum())
        raise DataError(
            f"{what} has NaN or inf in feature column(s) {list(bad)} ({rows} rows). mixnam does not impute: "
            "drop or impute those values in the raw file (or use a dataset without them)."
        )


N_QUANTILES = 2000
QUANTILE_NOISE = 1e-3  # relative Gaussian noise on the copy the quantiles are fitted to


class Preprocessor:
    def __init__(self, task: str, categorical: list[str], seed: int = 0, n_quantiles: int = N_QUANTILES,
                 quantile_noise: float = QUANTILE_NOISE):
        self.task, self.categorical, self.seed = task, list(categorical), seed
        self.n_quantiles, self.quantile_noise = n_quantiles, quantile_noise
        self.target_mean, self.target_scale = 0.0, 1.0
        self.fitted_rows: pd.Index | None = None  # which rows the fit saw (tests check it)

    def fit_transform(self, X: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fit on the training rows and return them transformed (features, target in model units)."""
        check_finite(X, "the training data")
        self.fitted_rows = X.index
        self.encoder = LeaveOneOutEncoder(cols=self.categorical, random_state=self.seed) if self.categorical else None
        if self.encoder:
            self.encoder.fit(X, y)
        encoded = self._encode(X)
        rng = np.random.default_rng(self.seed)
        std = encoded.std(axis=0, keepdims=True)
        noisy = encoded + self.quantile_noise / np.maximum(std, self.quantile_noise) * rng.standard_normal(encoded.shape)
        self.quantiles = QuantileTransformer(n_quantiles=min(self.n_quantiles, len(X)),
                                             output_distribution="normal", random_state=self.seed)
        self.quantiles.fit(noisy)
        if self.task == "regression":
            self.target_mean, self.target_scale = float(np.mean(y)), float(np.std(y)) or 1.0
        return self.quantiles.transform(encoded).astype(np.float32), self.transform_target(y)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_finite(X, "the validation/test data")
        return self.quantiles.transform(self._encode(X)).astype(np.float32)

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        """Categories -> their training-rows target mean (no label given, so nothing is left out)."""
        return (self.encoder.transform(X) if self.encoder else X).to_numpy(dtype=np.float64)

    def transform_target(self, y: np.ndarray) -> np.ndarray:
        return ((np.asarray(y, dtype=np.float64) - self.target_mean) / self.target_scale).astype(np.float32)

    def inverse_target(self, y_model: np.ndarray) -> np.ndarray:
        return np.asarray(y_model, dtype=np.float64) * self.target_scale + self.target_mean
