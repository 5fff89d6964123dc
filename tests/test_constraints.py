"""Explanation constraints (issue 15): rrr removes the input gradient it is told to, router exclusion makes a
feature enter MixNAM additively, and bad constraints are refused before any work."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixnam.contracts import Problem
from mixnam.data import load
from mixnam.errors import ConfigError
from mixnam.models.mixnam import MixNAM
from mixnam.models.mlp import MLP
from mixnam.runs.records import comparable, result_config
from mixnam.training import build_estimator
from mixnam.training.constraints import InputGradientPenalty
from tests.test_baselines import config
from tests.test_models import single_thread  # noqa: F401 - autouse fixture


class Linear(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.layer = nn.Linear(len(weight), 1)
        with torch.no_grad():
            self.layer.weight.copy_(torch.tensor([weight]))

    def forward(self, x):
        return self.layer(x).squeeze(-1)


def hessians(model: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.autograd.functional.hessian(lambda v: model(v[None])[0], row) for row in rows])


def test_rrr_is_lambda_times_the_squared_input_gradient_of_the_annotated_features():
    model, x = Linear([1.0, -2.0, 3.0]), torch.randn(16, 3)
    regression = InputGradientPenalty(10.0, [1, 2], 3, "regression")
    assert regression(model, x).item() == pytest.approx(10.0 * (4.0 + 9.0))
    # classification: d/dx of log p(1) + log p(0) = (1 - 2 sigmoid(z)) w
    classification = InputGradientPenalty(10.0, [1], 3, "classification")
    z = model(x).detach()
    expected = 10.0 * ((1 - 2 * torch.sigmoid(z)) ** 2 * 4.0).mean()
    assert classification(model, x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_rrr_training_stops_a_model_from_leaning_on_an_annotated_leak():
    """y = x0 + noise; x1 = y exactly: an MLP copies x1 unless rrr penalises its gradient."""
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=512)
    y = torch.tensor(x0 + 0.3 * rng.normal(size=512), dtype=torch.float32)
    X = torch.tensor(np.stack([x0, y.numpy()], axis=1), dtype=torch.float32)

    def leak_gradient(rrr: float) -> float:
        torch.manual_seed(0)
        model = MLP(2, hidden_dims=(32, 32), dropout=0.0)
        penalty = InputGradientPenalty(rrr, [1], 2, "regression")
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(150):
            loss = F.mse_loss(model(X), y) + (penalty(model, X) if rrr else 0.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        x = X.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(model(x).sum(), x)
        return gradient[:, 1].abs().mean().item() / gradient.abs().mean().item()

    unconstrained, constrained = leak_gradient(0.0), leak_gradient(10.0)
    assert unconstrained > 0.5 and constrained < 0.1 * unconstrained, (unconstrained, constrained)


def test_router_exclusion_zeroes_every_mixed_partial_of_the_excluded_feature_while_the_rest_interact():
    torch.manual_seed(0)
    model = MixNAM(4, n_layers=2, hidden_dim=16, n_experts=3, top_k=3, dropout=0.0, dropout_expert=0.0)
    model.exclude_from_router([1])
    X = torch.randn(64, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):  # the blocks stay zero whatever the optimiser does
        loss = F.mse_loss(model(X), X[:, 0] * X[:, 1] + X[:, 2] * X[:, 3])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    H = hessians(model.eval(), torch.randn(8, 4))
    others = [0, 2, 3]
    assert torch.all(H[:, 1, others] == 0) and torch.all(H[:, others, 1] == 0)
    assert torch.all(H[:, 0, [2, 3]].abs().amax(0) > 1e-6) and H[:, 2, 3].abs().max() > 1e-6
    assert H[:, 1, 1].abs().max() > 0, "the excluded feature still has its own (curved) shape"


def test_the_run_config_builds_the_constraint_and_records_it(mirror):
    problem = Problem("regression", "rmse", ("a", "b", "c"))
    cfg = config("model=mixnam", "model.n_layers=1", "model.hidden_dim=8", "constraint=rrr",
                 "constraint.features=[b]", "constraint.router_exclude=[b]")
    estimator = build_estimator(cfg, problem)
    assert estimator.model.router_mask is not None and estimator.constraint.mask.tolist() == [0.0, 1.0, 0.0]
    assert result_config(cfg)["constraint"] == {"name": "rrr", "lambda_rrr": 10.0, "features": ["b"],
                                                "router_exclude": ["b"]}
    assert build_estimator(config("model=mlp"), problem).constraint is None
    assert "constraint" not in comparable(result_config(config("model=mlp"))), "none keeps old runs' identity"


@pytest.mark.parametrize("overrides,message", [
    (("model=mlp", "constraint=rrr"), "needs the annotated features"),
    (("model=ebm", "constraint=rrr", "constraint.features=[a]"), "input gradients"),
    (("model=mlp", "constraint.router_exclude=[a]"), "needs a router"),
    (("model=mixnam", "constraint=rrr", "constraint.features=[z]"), r"no feature\(s\) \['z'\].*\['a', 'b'\]"),
    (("model=mlp", "constraint=rrr", "constraint.features=ab"),
     r"constraint.features=ab is one name, not a list: write constraint.features=\[ab\]"),
    (("model=mixnam", "constraint.router_exclude=ab"), r"write constraint.router_exclude=\[ab\]"),
    (("model=mlp", "constraint=rrr", "constraint.features=[a]", "constraint.lambda_rrr=-5"),
     "lambda_rrr=-5 must be positive"),
])
def test_a_constraint_the_model_cannot_honour_is_refused_with_the_fix(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_estimator(config(*overrides), Problem("regression", "rmse", ("a", "b")))


def test_the_decoy_leaks_the_label_in_train_and_validation_and_is_noise_in_test(mirror):
    data = load("decoy", max_rows=2000)
    column = list(data.problem.feature_names).index("decoy")
    for part, leaks in ((data.train, True), (data.val, True), (data.test, False)):
        correlation = np.corrcoef(part.X[:, column], part.y)[0, 1]
        assert (correlation > 0.95) if leaks else (abs(correlation) < 0.15), (leaks, correlation)
    clean = load("decoy", max_rows=2000, options={"leak": False})
    assert abs(np.corrcoef(clean.train.X[:, column], clean.train.y)[0, 1]) < 0.1
