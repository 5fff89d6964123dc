"""Additivity (Eq. 10-11), tightness (Eq. 12) and the cost over NAM (Table 9) measure what the paper says."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mixnam.evaluation.additivity import additivity
from mixnam.evaluation.complexity import n_parameters, over_nam, paper_extra_params
from mixnam.evaluation.tightness import tightness_binned, tightness_position
from mixnam.explain import ModelView, interpretability, view
from mixnam.models.mixnam import MixNAM
from mixnam.models.mlp import MLP
from mixnam.models.nam import NAM

N_FEATURES = 8


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    """Housing-shaped inputs in model units (quantile-normal features)."""
    return np.random.default_rng(0).standard_normal((2048, N_FEATURES)).astype(np.float32)


def measured(module: torch.nn.Module, X: np.ndarray) -> tuple[float, np.ndarray]:
    torch.manual_seed(0)
    return additivity(view(module, X.shape[1]).output, X, max_rows=1024)


def small(model, **kwargs):
    torch.manual_seed(0)
    return model(N_FEATURES, **kwargs)


@pytest.mark.parametrize("module", [
    pytest.param(lambda: small(NAM, hidden_dims=(32, 32)), id="nam"),
    pytest.param(lambda: small(MixNAM, n_layers=2, hidden_dim=32, diagonal_routing=True, gumbel_tau=0.1),
                 id="mixnam_d"),
])
def test_strictly_additive_models_score_one_to_float_precision(module, rows):
    value, shares = measured(module(), rows)
    assert value == pytest.approx(1.0, abs=1e-6) and np.allclose(shares, 1.0, atol=1e-6)


def test_an_mlp_and_pairwise_or_routed_models_score_below_one(rows):
    mlp, _ = measured(small(MLP, hidden_dims=(64, 64)), rows)
    na2m, _ = measured(small(NAM, hidden_dims=(32, 32), pairwise=True), rows)
    mixnam, _ = measured(small(MixNAM, n_layers=2, hidden_dim=32), rows)
    assert mlp < 0.5, "an MLP mixes every feature into every derivative"
    assert na2m < 0.99 and mixnam < 0.99


def test_additivity_matches_the_variance_decomposition_of_a_known_function(rows):
    # y = x0^2 + x1^2 + x0 x1: dy/dx0 = 2 x0 + x1, Var(E(. | x0)) / Var = 4 / 5 for independent N(0, 1)
    value, shares = additivity(lambda x: (x[:, 0] ** 2 + x[:, 1] ** 2 + x[:, 0] * x[:, 1]), rows, max_rows=None)
    assert shares[:2] == pytest.approx([0.8, 0.8], abs=0.02)
    assert np.allclose(shares[2:], 1.0), "an unused feature has a constant derivative: additive"


def hand_built_mixture() -> ModelView:
    """One feature, two experts, four rows in two bins of x ({0, 1} and {2, 3}) with known outputs.

    bin 0: experts (0, 4) routed (1, 0) -> 0; experts (1, 3) routed evenly -> 2
    bin 1: experts (2, 2) (collapsed)     -> 2; experts (0, 10) routed (0.4, 0.6) -> 6
    """
    experts = np.array([[0.0, 4.0], [1.0, 3.0], [2.0, 2.0], [0.0, 10.0]])[:, None, :]
    weights = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5], [0.4, 0.6]])[:, None, :]
    return ModelView("hand-built", 1, terms=lambda X: (experts * weights).sum(-1),
                     experts=lambda X: (experts, weights))


def test_binned_tightness_is_eq_12_per_bin_and_the_position_estimator_is_kept_beside_it():
    data = SimpleNamespace(problem=SimpleNamespace(feature_names=("x",)),
                           test=SimpleNamespace(X=np.arange(4.0)[:, None]))
    record = interpretability(hand_built_mixture(), data, n_bins=2)
    # Eq. 12 per bin: (max o - min o) / (max u - min l) = 2 / 4 and 4 / 10, two rows each
    assert record["tightness_binned"] == pytest.approx((2 * 0.5 + 2 * 0.4) / 4, abs=1e-12)
    # positions (o - l) / (u - l): bin 0 holds 0 and 0.5, bin 1 only 0.6 (the collapsed row has none)
    assert record["tightness_position"] == pytest.approx((2 * 0.5 + 2 * 0.0) / 4, abs=1e-12)
    assert set(record["tightness_binned_by_bins"]) == {"16", "32", "64"}
    assert "tightness" not in record, "a view without its routing has no interventional (principal) reading"


def test_collapsed_bounds_are_perfectly_tight_for_both_estimators():
    X = np.random.default_rng(0).uniform(size=(500, 2))
    same = np.sin(3 * X)  # every expert says the same: upper = lower = routed
    assert tightness_binned(X, same, same, same) == (1.0, pytest.approx(np.ones(2)))
    assert tightness_position(X, same, same, same)[0] == 1.0


def test_rows_that_fill_their_bounds_are_tight_and_rows_on_one_bound_are_not():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(4000, 2))
    upper, lower = np.ones_like(X), -np.ones_like(X)
    spread = lower + rng.uniform(size=X.shape) * (upper - lower)
    for estimator in (tightness_binned, tightness_position):
        assert estimator(X, spread, upper, lower)[0] > 0.9
        assert estimator(X, upper, upper, lower)[0] == pytest.approx(0.0)


def test_tightness_of_a_mixnam_lies_in_zero_one(rows):
    model_view = view(small(MixNAM, n_layers=2, hidden_dim=32), N_FEATURES)
    o, r = model_view.experts(rows)
    for estimator in (tightness_binned, tightness_position):
        value, per_feature = estimator(rows, (o * r).sum(-1), o.max(-1), o.min(-1))
        assert 0.0 < value <= 1.0 and ((per_feature > 0) & (per_feature <= 1)).all()


def test_cost_over_nam_is_table_9():
    # the paper's Housing settings: n = 8, d = 128, C = 4 (MixNAM) and C = 64 (MixNAM-D)
    assert paper_extra_params(8, 128, 4, diagonal_routing=False) == 36_928  # "37k"
    assert paper_extra_params(8, 128, 64, diagonal_routing=True) == 132_096  # "132k"
    assert paper_extra_params(90, 128, 4, diagonal_routing=False) == 4_194_000  # Year "4.2M"
    for kwargs, formula in (({}, 36_928), ({"n_experts": 64, "top_k": 64, "diagonal_routing": True}, 132_096)):
        mixnam = MixNAM(8, n_layers=4, hidden_dim=128, normalization="layer_norm", **kwargs)
        nam = NAM(8, hidden_dims=[128] * 4, normalization="layer_norm")
        cost = over_nam(mixnam)
        assert cost["n_params_nam"] == n_parameters(nam), "the NAM counterpart shares MixNAM's encoders"
        assert cost["extra_params_over_nam"] == n_parameters(mixnam) - n_parameters(nam)
        assert cost["extra_params_over_nam"] == formula - 8 * 129, "the paper's formula leaves NAM's heads in"
        assert cost["extra_params_paper_formula"] == formula
        assert cost["extra_memory_bytes_over_nam"] == 4 * cost["extra_params_over_nam"]
    assert over_nam(NAM(8)) == {}
