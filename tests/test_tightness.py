"""Every reading of Eq. 12 (issue 26) gives the answer a hand-built MixNAM-shaped model is known to have,
the interventional ones equal re-running the model with x_i imposed, and a finished run's metrics are
recomputed from its kept weights without retraining."""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mixnam import recompute as recompute_module
from mixnam.evaluation.tightness import (
    PRINCIPAL,
    interventional_extremes,
    quantile_grid,
    tightness_binned,
    tightness_interventional_blocks,
    tightness_interventional_range,
    tightness_interventional_value,
    tightness_position,
)
from mixnam.explain import interpretability
from mixnam.models.mixnam import MixNAM
from mixnam.models.nam import NAM

BIG = 1e4  # a score gap whose softmax is one-hot to float precision


class HandBuilt:
    """One feature, two experts whose outputs are `experts(x)`; the router's score for the experts is the
    row's context (a second input column, not a feature of the shape) plus nothing from x itself.

    context +1 routes every weight to expert 0, -1 to expert 1, 0 to the even mix (0.5, 0.5).
    """

    def __init__(self, experts=lambda x: torch.stack([torch.full_like(x, -1.0), torch.full_like(x, 2.0)], -1)):
        self.experts = experts

    def routing_parts(self, x: torch.Tensor):
        o = self.experts(x[:, :1])  # (B, 1, 2)
        context = x[:, 1:2]
        scores = torch.stack([BIG * context, -BIG * context], -1)  # (B, 1, 2)
        return o, torch.zeros_like(scores), scores  # x's own router term is 0: routing is the context's

    @staticmethod
    def routing_weights(scores: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores, -1)


def rows(contexts: list[float], n: int = 400) -> np.ndarray:
    """n rows: x uniform on [0, 1], the context cycling through `contexts`."""
    x = np.linspace(0.0, 1.0, n)
    return np.stack([x, np.resize(contexts, n)], axis=1).astype(np.float32)


def every_reading(model: HandBuilt, X: np.ndarray, grid_size: int = 8) -> dict[str, float]:
    """The five estimators on one model: observational on the rows X, interventional with X as context."""
    with torch.no_grad():
        o, _, scores = model.routing_parts(torch.as_tensor(X))
        routed = (model.routing_weights(scores) * o).sum(-1).double().numpy()
    upper, lower = o.amax(-1).double().numpy(), o.amin(-1).double().numpy()
    x = X[:, :1]
    grid = np.concatenate([quantile_grid(x, grid_size), np.zeros((grid_size, 1))], axis=1)  # context column unused
    extremes = [a[:, :1] for a in interventional_extremes(model, X, grid)]
    return {"binned": tightness_binned(x, routed, upper, lower, n_bins=4)[0],
            "position": tightness_position(x, routed, upper, lower, n_bins=4)[0],
            "interventional_value": tightness_interventional_value(*extremes)[0],
            "interventional_range": tightness_interventional_range(*extremes)[0],
            "interventional_blocks": tightness_interventional_blocks(*extremes, n_blocks=4)[0]}


READINGS = ("binned", "position", "interventional_value", "interventional_range", "interventional_blocks")


@pytest.mark.parametrize("reading", READINGS)
def test_routing_that_reaches_each_expert_exactly_is_perfectly_tight(reading):
    assert every_reading(HandBuilt(), rows([1.0, -1.0]))[reading] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("reading", READINGS)
def test_routing_frozen_to_one_mix_is_not_tight_at_all_where_the_experts_differ(reading):
    assert every_reading(HandBuilt(), rows([0.0]))[reading] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("reading", READINGS)
def test_experts_that_agree_are_perfectly_tight_whatever_the_routing(reading):
    same = HandBuilt(lambda x: torch.stack([torch.sin(3 * x)] * 2, -1))
    assert every_reading(same, rows([0.0, 0.3]))[reading] == 1.0


def test_the_range_and_block_readings_count_the_shapes_own_trend_the_per_value_one_does_not():
    # experts v and v + 1, frozen to the even mix: o = v + 0.5 has no spread at any value of x
    model = HandBuilt(lambda x: torch.stack([x, x + 1.0], -1))
    grid = np.array([[0.0], [1 / 3], [2 / 3], [1.0]])
    extremes = [a[:, :1] for a in interventional_extremes(model, rows([0.0]), np.hstack([grid, 0 * grid]))]
    assert tightness_interventional_value(*extremes)[0] == pytest.approx(0.0, abs=1e-9)
    # whole range: o spans [0.5, 1.5] (1) of bounds [0, 2] (2); 2 blocks: (5/6 - 1/2) / (4/3 - 0) = 1/4
    assert tightness_interventional_range(*extremes)[0] == pytest.approx(0.5, abs=1e-6)
    assert tightness_interventional_blocks(*extremes, n_blocks=2)[0] == pytest.approx(0.25, abs=1e-6)
    assert tightness_interventional_blocks(*extremes, n_blocks=4)[0] == tightness_interventional_value(*extremes)[0]


def test_the_quantile_grid_holds_the_medians_of_equal_mass_slices():
    assert quantile_grid(np.arange(100.0)[:, None], 4)[:, 0] == pytest.approx([12.375, 37.125, 61.875, 86.625])


def small(**kwargs) -> MixNAM:
    torch.manual_seed(0)
    model = MixNAM(4, n_layers=2, hidden_dim=16, **kwargs).eval()
    with torch.no_grad():  # a router strong enough that the routing really varies with the context
        model.router.weight.mul_(20.0)
    return model


@pytest.mark.parametrize("model", [
    pytest.param(lambda: small(), id="mixnam"),
    pytest.param(lambda: small(n_experts=4, top_k=2), id="top_k"),
    pytest.param(lambda: small(n_experts=8, top_k=4, even_weights=True), id="mixnam_e"),
    pytest.param(lambda: small(n_experts=8, diagonal_routing=True, gumbel_tau=0.1), id="mixnam_d"),
    pytest.param(lambda: (m := small(), m.exclude_from_router([1]))[0], id="router_exclusion"),
])
def test_updating_the_routing_per_grid_value_equals_rerunning_the_model_with_x_i_imposed(model):
    model = model()
    context = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)
    grid = quantile_grid(context, 5)
    high, low, _, _ = interventional_extremes(model, context, grid, chunk_rows=128)  # chunks must not matter
    for g in range(len(grid)):
        for i in range(4):
            imposed = context.copy()
            imposed[:, i] = grid[g, i]
            with torch.no_grad():
                o_i = model.contributions(torch.as_tensor(imposed))[:, i].double().numpy()
            assert (high[g, i], low[g, i]) == pytest.approx((o_i.max(), o_i.min()), abs=1e-5)
    if model.diagonal_routing:  # MixNAM-D routes each feature on itself: no context moves o_i at a value
        assert (high - low).max() < 1e-5
    else:
        assert (high - low).max() > 1e-3, "the context moves the routing: the check is not vacuous"


def housing_shaped(n: int = 600) -> SimpleNamespace:
    rng = np.random.default_rng(0)
    part = lambda k: SimpleNamespace(X=rng.standard_normal((k, 4)).astype(np.float32))  # noqa: E731
    return SimpleNamespace(problem=SimpleNamespace(feature_names=("a", "b", "c", "d")),
                           train=part(n), val=part(n // 4), test=part(n // 4))


def test_a_mixnam_record_keeps_every_reading_and_the_principal_one_as_tightness():
    metrics = interpretability(small(), housing_shaped())
    readings = ("tightness_binned", "tightness_position", "tightness_interventional_value",
                "tightness_interventional_range", "tightness_interventional_blocks")
    assert all(0.0 <= metrics[k] <= 1.0 for k in readings)
    assert metrics["tightness_reading"] == PRINCIPAL and metrics["tightness"] == metrics[PRINCIPAL]
    assert set(metrics["tightness_per_feature"]) == {"a", "b", "c", "d"}
    assert metrics["tightness_interventional_grid"]["context_rows"] == 600 + 150 + 150, "every row is context"
    by_blocks = metrics["tightness_interventional_by_blocks"]
    assert by_blocks["1"] == metrics["tightness_interventional_range"]
    assert by_blocks["64"] == metrics["tightness_interventional_value"]
    assert not any(k.startswith("tightness") for k in interpretability(NAM(4, hidden_dims=(8,)), housing_shaped()))


# --- recompute from kept weights -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, mirror):
    """A tiny finished Housing MixNAM run (record + best.pt) whose record predates the readings."""
    from mixnam.experiment import run
    from tests.test_baselines import config

    runs = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    run(config("model=mixnam", "dataset=housing", "data.max_rows=1500", "model.n_layers=2", "model.hidden_dim=16",
               "trainer.max_epochs=2", "trainer.enable_progress_bar=false", runs_dir=runs, mirror=mirror))
    [path] = runs.rglob("*.json")
    return path


def test_recompute_refreshes_a_finished_records_metrics_from_its_weights(finished_run, tmp_path, mirror, monkeypatch):
    if mirror:
        monkeypatch.setenv("MIXNAM_DATA_MIRROR", mirror)
    path = tmp_path / finished_run.name
    shutil.copy(finished_run, path)
    shutil.copytree(finished_run.with_suffix(""), path.with_suffix(""))
    old = json.loads(path.read_text())
    old["interpretability"] = {"tightness": 0.5}  # a record written before the readings existed
    path.write_text(json.dumps(old))
    assert recompute_module.main([str(path)]) == 0
    new = json.loads(path.read_text())
    assert new["interpretability"]["tightness_reading"] == PRINCIPAL
    assert new["interpretability"]["tightness"] == new["interpretability"][PRINCIPAL] != 0.5
    assert new["metrics"] == old["metrics"] and new["finished_at"] == old["finished_at"], "nothing was retrained"
    assert new["interpretability_recomputed"]["weights"] == str(path.with_suffix("") / "best.pt")
    fresh = json.loads(finished_run.read_text())["interpretability"]
    assert new["interpretability"]["tightness"] == pytest.approx(fresh["tightness"], abs=1e-6), \
        "the same metrics as the run computed after its fit"


def test_recompute_refuses_weights_that_do_not_give_the_records_test_metric(finished_run, tmp_path, mirror,
                                                                           monkeypatch, caplog):
    if mirror:
        monkeypatch.setenv("MIXNAM_DATA_MIRROR", mirror)
    weights = torch.load(finished_run.with_suffix("") / "best.pt", weights_only=True)
    other = tmp_path / "other.pt"
    torch.save({k: v + 0.1 if v.is_floating_point() else v for k, v in weights.items()}, other)
    before = finished_run.read_text()
    assert recompute_module.main([str(finished_run), "--weights", str(other)]) == 1
    assert "not this run's weights" in caplog.text
    assert finished_run.read_text() == before, "a failed recompute leaves the record as it was"


def test_a_record_made_before_the_readings_shows_its_binned_value_as_binned_and_no_principal_one():
    from mixnam.runs.records import upgraded

    legacy = {"interpretability": {"tightness": 0.8, "tightness_per_feature": {"a": 0.8},
                                   "tightness_by_bins": {"32": 0.8}, "tightness_position": 0.84, "additivity": 0.3}}
    assert upgraded(legacy)["interpretability"] == {
        "tightness_binned": 0.8, "tightness_binned_per_feature": {"a": 0.8}, "tightness_binned_by_bins": {"32": 0.8},
        "tightness_position": 0.84, "additivity": 0.3}
    assert legacy["interpretability"]["tightness"] == 0.8, "the record itself is not changed"
    current = {"interpretability": {"tightness": 0.95, "tightness_reading": PRINCIPAL, "tightness_binned": 0.8}}
    assert upgraded(current) == current
