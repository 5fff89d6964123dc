"""Pairwise interactions (issue 15) keep the properties that define them, on closed-form functions and models.

f = x1 x2 + x3^2 puts its only synergy on the pair (x1, x2); an additive model has none under any
method; main effects + pairs + the reported remainder add up to f(x) - f(b) (efficiency).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

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
    gap = np.abs(sampled.pair - exact.pair).mean(axis=0)
    assert np.all(gap <= 4 * sampled.standard_error + 1e-6), (gap, sampled.standard_error)
    assert sampled.standard_error[PAIR_12] > 0  # the three-way term makes the draws differ


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


def test_bad_input_is_refused_with_the_fix(rows):
    with pytest.raises(ValueError, match="method="):
        interactions(ClosedForm(), rows, method="shap")
    with pytest.raises(ValueError, match="baseline has 3 values"):
        interactions(ClosedForm(), rows, baseline=np.zeros(3))
