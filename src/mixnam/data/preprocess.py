"""Preprocessing fitted on the training rows only (the reference code's recipe).

Categorical columns -> leave-one-out target encoding (category-encoders), applied to every part,
training rows included, *without* their labels, as NODE-GAM's `MyPreprocessor` does: a row's own
label left out of its category mean would encode the label itself (within a category, positives get
a lower value than negatives) and trees learn that inverted leak. Applied without labels, the encoder
is a table: each category's training target mean (the global mean for a category seen once or an
unseen one; missing values are a category of their own), which is what is kept after fitting; every column -> quantile
transform to a normal distribution (2000 quantiles, fitted on a copy with 1e-3 relative Gaussian
noise so ties and categorical codes spread out); regression target -> standardised, inverted for
metrics. Nothing here ever sees validation or test rows while fitting.

The fitted state is plain numbers (`state()` / `Preprocessor.from_state`), so a saved estimator
reloads it with `torch.load(weights_only=True)`, without unpickling library objects.
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
        self.category_values: dict[str, dict[str, float]] = {}  # column -> category -> encoded value
        self.missing_values: dict[str, float] = {}  # column -> encoded value of a missing category
        self.unseen_value = 0.0
        self.fitted_rows: pd.Index | None = None  # which rows the fit saw (tests check it)

    def fit_transform(self, X: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fit on the training rows and return them transformed (features, target in model units)."""
        check_finite(X, "the training data")
        self.fitted_rows = X.index
        self._fit_categories(X, y)
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

    def _fit_categories(self, X: pd.DataFrame, y: np.ndarray) -> None:
        """Each categorical column's category -> encoded value, as the fitted encoder maps them without labels."""
        if not self.categorical:
            return
        encoder = LeaveOneOutEncoder(cols=self.categorical, random_state=self.seed).fit(X, y)
        self.unseen_value = float(np.mean(y))
        for column in self.categorical:
            levels = encoder.mapping[column]  # sum and count of the target per category seen (NaN: missing)
            values = (levels["sum"] / levels["count"]).where(levels["count"] > 1, self.unseen_value)
            seen = values.index.notna()
            self.category_values[column] = values[seen].to_dict()
            self.missing_values[column] = float(values[~seen].iloc[0]) if (~seen).any() else self.unseen_value

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_finite(X, "the validation/test data")
        return self.quantiles.transform(self._encode(X)).astype(np.float32)

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        """Categories -> their training-rows target mean (no label given, so nothing is left out)."""
        encoded = X.copy()
        for column, table in self.category_values.items():
            values = X[column].astype(object)
            encoded[column] = values.map(table).astype(np.float64).fillna(self.unseen_value)
            encoded.loc[values.isna(), column] = self.missing_values[column]
        return encoded.to_numpy(dtype=np.float64)

    def transform_target(self, y: np.ndarray) -> np.ndarray:
        return ((np.asarray(y, dtype=np.float64) - self.target_mean) / self.target_scale).astype(np.float32)

    def inverse_target(self, y_model: np.ndarray) -> np.ndarray:
        return np.asarray(y_model, dtype=np.float64) * self.target_scale + self.target_mean

    def state(self) -> dict:
        """The fitted preprocessing as plain numbers and strings (see `from_state`)."""
        return {"task": self.task, "seed": self.seed, "target_mean": self.target_mean,
                "target_scale": self.target_scale, "category_values": self.category_values,
                "missing_values": self.missing_values, "unseen_value": self.unseen_value,
                "quantiles": self.quantiles.quantiles_.tolist(), "references": self.quantiles.references_.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> "Preprocessor":
        """A fitted preprocessor from `state()`: transforms exactly as the one that was saved."""
        pre = cls(state["task"], list(state["category_values"]), seed=state["seed"])
        pre.target_mean, pre.target_scale = state["target_mean"], state["target_scale"]
        pre.category_values, pre.missing_values = state["category_values"], state["missing_values"]
        pre.unseen_value = state["unseen_value"]
        quantiles = np.asarray(state["quantiles"], dtype=np.float64)
        pre.quantiles = QuantileTransformer(n_quantiles=len(quantiles), output_distribution="normal")
        pre.quantiles.quantiles_, pre.quantiles.references_ = quantiles, np.asarray(state["references"])
        pre.quantiles.n_quantiles_, pre.quantiles.n_features_in_ = len(quantiles), quantiles.shape[1]
        return pre
