"""Pairwise interactions (issue 15) keep the properties that define them, on closed-form functions and models.

f = x1 x2 + x3^2 puts its only synergy on the pair (x1, x2); an additive model has none under any
method; main effects + pairs + the reported remainder add up to f(x) - f(b) (efficiency).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mixnam import MixNAMClassifier, MixNAMDRegressor, MixNAMRegressor
from mixnam.data import load
from mixnam.explain.interactions import METHODS, Interactions, interactions
from mixnam.explain.plots import save_interaction_plots
from mixnam.models.mixnam import MixNAM
from mixnam.models.nam import NAM
from tests.test_models import single_thread  # noqa: F401 - autouse fixture

PAIR_12, PAIRS_WITH_3 = 0, [1, 3, 4]  # combinations(range(4), 2): (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)


class ClosedForm(nn.Module):
    """f = x1 x2 + x3^2 (+ scale x1 x2 x3 when `three_way`); x4 unused."""

    def __init__(self, three_way: float = 0.0):
        super().__init__()
        self.three_way = three_way

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0] * x[:, 1] + x[:, 2] ** 2 + self.three_way * x[:, 0] * x[:, 1] * x[:, 2]


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(40, 4))


@pytest.fixture(scope="module")
def fitted_regressor():
    """A MixNAMRegressor (ReLU encoders, a router) trained on a table with a text column and an x1 x2 term."""
    from tests.test_estimators import TINY, table

    X, y = table()
    return MixNAMRegressor(**TINY).fit(X, X.x1 * X.x2 + (y == "buys")), X


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def expected_pair(rows, baseline):
    return (rows[:, 0] - baseline[0]) * (rows[:, 1] - baseline[1])


@pytest.mark.parametrize("method", ["synergy", "shapley_taylor"])
def test_x1_x2_gives_all_its_synergy_to_the_pair_and_x3_squared_none(rows, method):
    result = interactions(ClosedForm(), rows, baseline="mean", method=method)
    np.testing.assert_allclose(result.pair[:, PAIR_12], expected_pair(rows, result.baseline), atol=1e-5)
    np.testing.assert_allclose(result.pair[:, PAIRS_WITH_3 + [2, 5]], 0.0, atol=1e-5)
    np.testing.assert_allclose(result.remainder, 0.0, atol=1e-5)
    assert result.top_pairs(1)[0]["pair"] == ["x0", "x1"]


def test_integrated_hessians_gives_x1_x2_half_to_the_pair_and_a_quarter_to_each_main_effect(rows):
    """Its policy on the monomial x1 x2 (a gradient method is characterised by its action on monomials)."""
    result = interactions(ClosedForm(), rows, baseline="zeros", method="integrated_hessians")
    product = rows[:, 0] * rows[:, 1]
    np.testing.assert_allclose(result.pair[:, PAIR_12], product / 2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.main[:, :2], np.stack([product / 4] * 2, axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.main[:, 2], rows[:, 2] ** 2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.pair[:, PAIRS_WITH_3], 0.0, atol=1e-6)
    np.testing.assert_allclose(result.remainder, 0.0, atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_efficiency_main_plus_pairs_plus_remainder_is_f_x_minus_f_baseline(rows, method):
    model = ClosedForm(three_way=0.5)
    result = interactions(model, rows, baseline="median", method=method)
    with torch.no_grad():
        f = model(torch.as_tensor(rows, dtype=torch.float32)).double().numpy()
        f_b = model(torch.as_tensor(result.baseline[None], dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(result.delta, f - f_b, atol=1e-5)
    np.testing.assert_allclose(result.main.sum(1) + result.pair.sum(1) + result.remainder, f - f_b, atol=1e-5)
    if method == "synergy":  # the three-way synergy is left over, and reported
        d = rows[:, :3] - result.baseline[:3]
        np.testing.assert_allclose(result.remainder, 0.5 * d.prod(axis=1), atol=1e-5)
    if method == "shapley_taylor":  # distributes it over its three pairs: nothing is left over
        np.testing.assert_allclose(result.remainder, 0.0, atol=1e-5)


def test_sampled_shapley_taylor_agrees_with_the_exact_index_within_its_stated_error(rows):
    model = ClosedForm(three_way=1.0)
    exact = interactions(model, rows, method="shapley_taylor")
    sampled = interactions(model, rows, method="shapley_taylor", max_exact=2, n_samples=400)
    assert sampled.standard_error is not None and exact.standard_error is None
    assert sampled.standard_error.shape == sampled.pair.shape, "one error per row and pair"
    assert np.all(np.abs(sampled.pair - exact.pair) <= 5 * sampled.standard_error + 1e-6)
    assert (sampled.standard_error[:, PAIR_12] > 0).all()  # the three-way term makes the draws differ


def test_sampled_shapley_taylor_two_standard_errors_cover_the_exact_index_about_95_percent_of_the_time(rows):
    """Per row the draws' spread differs by orders of magnitude (it scales with the row's own three-way
    term), so only a per-row error has the stated coverage. The rows share their coalitions, so seeds are
    the independent repeats: 100 of them."""
    model = ClosedForm(three_way=1.0)
    exact = interactions(model, rows, method="shapley_taylor").pair
    covered = [np.abs(sampled.pair - exact) <= 2 * sampled.standard_error
               for sampled in (interactions(model, rows, method="shapley_taylor", max_exact=2, n_samples=64, seed=s)
                               for s in range(100))]
    among_x1_x2_x3 = [0, 1, 3]  # the pairs the three-way term spreads over; the others are exact (zero error)
    coverage = np.mean(np.stack(covered)[:, :, among_x1_x2_x3])
    assert 0.90 <= coverage <= 0.99, coverage


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("additive", ["nam", "mixnam_d"])
def test_an_additive_model_has_exactly_zero_interaction_for_every_pair(additive, method):
    torch.manual_seed(0)
    model = NAM(5, hidden_dims=(16, 16)) if additive == "nam" else MixNAM(
        5, n_layers=2, hidden_dim=16, n_experts=3, top_k=2, diagonal_routing=True)
    X = np.random.default_rng(1).normal(size=(30, 5))
    result = interactions(model.eval(), X, method=method)
    assert np.abs(result.pair).max() <= 1e-12 * max(1.0, np.abs(result.delta).max())
    assert np.abs(result.main).max() > 1e-3  # it is not zero because nothing is computed


@pytest.mark.parametrize("method", METHODS)
def test_mixnam_routing_makes_features_interact(method):
    torch.manual_seed(0)
    model = MixNAM(4, n_layers=2, hidden_dim=16, n_experts=3, top_k=3, dropout=0.0, dropout_expert=0.0)
    result = interactions(model.eval(), np.random.default_rng(1).normal(size=(30, 4)), method=method)
    assert (result.matrix[np.triu_indices(4, 1)] > 1e-5).all()


def test_library_models_go_through_the_model_agnostic_methods_and_eb2m_pairs_are_its_pair_terms(mirror, tmp_path):
    import mixnam.training
    from tests.test_baselines import TINY_EBM, config

    data = load("housing", mirror=mirror, max_rows=1200)
    ebm = mixnam.training.build_estimator(config("model=eb2m", *TINY_EBM, "+model.interactions=2"), data.problem)
    ebm.fit(data.train, data.val)
    result = interactions(ebm, data, method="synergy", max_rows=50)
    pair_terms = [t for t in ebm.term_features if len(t) == 2]
    X, b = data.test.X[np.sort(np.random.default_rng(0).choice(len(data.test.X), 50, replace=False))], result.baseline
    for p, (i, j) in enumerate(result.pairs):
        if (i, j) not in pair_terms:
            np.testing.assert_allclose(result.pair[:, p], 0.0, atol=1e-9)
            continue
        t = ebm.term_features.index((i, j))
        corners = []
        for xi, xj in ((True, True), (True, False), (False, True), (False, False)):
            Z = np.tile(b, (len(X), 1))
            Z[:, i], Z[:, j] = (X[:, i] if xi else b[i]), (X[:, j] if xj else b[j])
            corners.append(ebm.contributions(Z)[:, t])
        np.testing.assert_allclose(result.pair[:, p], corners[0] - corners[1] - corners[2] + corners[3], atol=1e-6)
    assert {tuple(result.pairs[np.abs(result.pair).mean(0) > 1e-9][k]) for k in range(2)} <= set(pair_terms)
    with pytest.raises(TypeError, match="use method='synergy'"):
        interactions(ebm, data, method="integrated_hessians")

    saved = Interactions.load(result.save(tmp_path / "interactions.npz"))
    np.testing.assert_array_equal(saved.matrix, result.matrix)
    files = save_interaction_plots(saved, tmp_path, title="eb2m")
    assert {p.suffix for p in files} == {".png", ".pdf"} and all(p.stat().st_size > 0 for p in files)


class CountingModel(ClosedForm):
    """ClosedForm that counts its calls: bad input must be refused before any."""

    n_features, calls = 4, 0

    def forward(self, x):
        self.calls += 1
        return super().forward(x)


def fitted_linear_regression(rows):
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(rows, rows[:, 0] * rows[:, 1])


@pytest.mark.parametrize("model,change,fragment", [
    (CountingModel, {"method": "shap"}, "method='shap'; use one of"),
    (CountingModel, {"baseline": np.zeros(3)}, r"baseline has shape \(3,\); give one value per feature, shape \(4,\)"),
    (CountingModel, {"baseline": np.zeros((2, 2))}, r"baseline has shape \(2, 2\)"),
    (CountingModel, {"X": lambda r: np.where(np.arange(4) == 2, np.nan, r)}, r"NaN or inf in column\(s\) \[2\] \(40 rows\)"),
    (CountingModel, {"X": lambda r: np.hstack([r, r[:, :1]])}, "X has 5 columns but CountingModel takes 4 features"),
    (fitted_linear_regression, {"X": lambda r: np.hstack([r, r[:, :1]])},
     "X has 5 columns but LinearRegression takes 4 features"),
    (CountingModel, {"features": ["a", "b", "c"]}, "features has 3 names but X has 4 columns"),
    (CountingModel, {"softplus_beta": 0.0}, "softplus_beta=0.0 must be positive"),
    (CountingModel, {"features": ["a", "b", "a", "c"]}, r"features repeats \['a'\]; give each column its own name"),
    (CountingModel, {"max_rows": 0}, "max_rows=0: give a whole number >= 1 or None"),
    (CountingModel, {"method": "shapley_taylor", "max_exact": 0, "n_samples": 0}, "n_samples=0: give a whole number"),
    (CountingModel, {"method": "integrated_hessians", "n_steps": 0}, "n_steps=0: give a whole number >= 1"),
    (CountingModel, {"max_exact": -1}, "max_exact=-1: give a whole number >= 0"),
    (CountingModel, {"seed": 1.5}, "seed=1.5: give a whole number >= 0"),
])
def test_bad_input_is_refused_before_any_model_call_with_the_fix(rows, model, change, fragment):
    model = model(rows) if model is fitted_linear_regression else model()
    X = change.pop("X", lambda r: r)(rows)
    with pytest.raises(ValueError, match=fragment):
        interactions(model, X, **change)
    assert getattr(model, "calls", 0) == 0


def test_integrated_hessians_on_a_trained_relu_mixnam_converges_as_the_steps_grow(fitted_regressor):
    """On the ReLU network itself the remainder stayed at ~19% of |f(x) - f(b)| at any step count (its
    Hessian is zero almost everywhere); on the SoftPlus substitute it is quadrature error, gone by 32 steps."""
    model, X = fitted_regressor
    share = [np.abs(r.remainder).mean() / np.abs(r.delta).mean() for r in
             (interactions(model, X, method="integrated_hessians", n_steps=k, max_rows=40) for k in (4, 8, 32))]
    assert share[0] > share[1] > share[2] and share[2] < 1e-6, share
    relu = interactions(model, X, method="synergy", max_rows=40).delta
    smooth = interactions(model, X, method="integrated_hessians", softplus_beta=50.0, n_steps=32, max_rows=40).delta
    np.testing.assert_allclose(smooth, relu, atol=0.02 * np.abs(relu).mean()), "large beta: the ReLU network's delta"


@pytest.mark.parametrize("labels", ["text", "zero_one"])
def test_a_fitted_classifier_is_explained_on_its_networks_logit_with_its_preprocessing_and_column_names(labels):
    """Through `predict` the hard 0/1 labels made delta {-55.3, 0}, and text labels failed to convert."""
    from tests.test_estimators import TINY, table

    X, y = table()
    model = MixNAMClassifier(**TINY).fit(X, y if labels == "text" else (y == "buys").astype(int))
    result = interactions(model, X, method="synergy")
    proba = model.predict_proba(X)[:, 1]
    # float32 probabilities resolve the logit to ~6e-8 / (p (1 - p)): compare where that is below 1e-4
    resolved = np.flatnonzero((proba > 1e-3) & (proba < 1 - 1e-3))
    reference = resolved[np.argmin(np.abs(proba[resolved] - 0.5))]
    margin = logit(proba)
    np.testing.assert_allclose((result.delta - result.delta[reference])[resolved],
                               (margin - margin[reference])[resolved], atol=1e-4)
    assert len(resolved) > len(X) / 2
    assert result.features == ["x1", "x2", "city"]
    for method in ("shapley_taylor", "integrated_hessians"):
        other = interactions(model, X, method=method, max_rows=20)
        assert other.features == ["x1", "x2", "city"] and np.isfinite(other.pair).all()


def test_a_fitted_regressor_is_explained_in_standardised_units_and_mixnam_d_is_exactly_additive(fitted_regressor):
    from tests.test_estimators import TINY

    model, X = fitted_regressor
    result = interactions(model, X, method="synergy")
    standardised = (model.predict(X) - model.preprocessor_.target_mean) / model.preprocessor_.target_scale
    np.testing.assert_allclose(result.delta - result.delta[0], standardised - standardised[0], atol=1e-4)
    assert result.features == ["x1", "x2", "city"]
    additive = MixNAMDRegressor(**TINY).fit(X, X.x1 + X.x2)
    for method in METHODS:
        pairs = interactions(additive, X, method=method, max_rows=30)
        assert np.abs(pairs.pair).max() <= 1e-12 * max(1.0, np.abs(pairs.delta).max()), method
    with pytest.raises(ValueError, match=r"Give X the columns fit saw"):
        interactions(model, X.rename(columns={"x1": "age"}))
