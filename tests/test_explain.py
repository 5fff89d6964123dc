"""Shape functions and their plots show what the paper says they show (Section 4.2, 4.4, Figures 3-5)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from mixnam.data import load
from mixnam.data.synthetic import wave
from mixnam.explain import ShapeFunctions, interpretability, shape_functions
from mixnam.explain.plots import save_model_plots
from mixnam.models.linear import LinearBaseline
from mixnam.models.mixnam import MixNAM
from mixnam.models.nam import NAM
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def housing(mirror, data_dir):
    return load("housing", data_dir=data_dir, mirror=mirror)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread (and do not fight other tests for the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train(model: torch.nn.Module, data, epochs: int, lr: float = 3e-3, batch: int = 256, seed: int = 0):
    """A plain training loop (task loss + the model's penalty): enough for the simulations."""
    torch.manual_seed(seed)
    X, y = torch.as_tensor(data.train.X), torch.as_tensor(data.train.y)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for rows in torch.randperm(len(X)).split(batch):
            details = model.forward_details(X[rows])
            loss = torch.nn.functional.mse_loss(details.logit, y[rows]) + model.penalty(details)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def small_mixnam(n_features: int, **kwargs) -> MixNAM:
    torch.manual_seed(0)
    options = dict(n_layers=2, hidden_dim=32, n_experts=2, top_k=2, dropout=0.0, dropout_expert=0.0) | kwargs
    return MixNAM(n_features, **options)


def corr(a, b) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def multimodal():
    """MixNAM (C = K = 2) and NAM trained briefly on the two-mode simulation (Eq. 14)."""
    data = load("synthetic_multimodal")
    torch.manual_seed(0)
    nam = train(NAM(2, hidden_dims=(32, 32), normalization="layer_norm"), data, epochs=8)
    mixnam = train(small_mixnam(2), data, epochs=8)
    return data, shape_functions(mixnam, data), shape_functions(nam, data), mixnam


@pytest.mark.parametrize("kwargs", [
    pytest.param({}, id="mixnam"), pytest.param({"n_experts": 4, "top_k": 2}, id="mixnam_topk"),
    pytest.param({"n_experts": 6, "top_k": 3, "even_weights": True}, id="mixnam_e"),
    pytest.param({"n_experts": 4, "top_k": 4, "diagonal_routing": True, "gumbel_tau": 0.1}, id="mixnam_d"),
])
def test_every_routed_contribution_lies_inside_its_bounds(housing, kwargs):
    shapes = shape_functions(small_mixnam(8, **kwargs), housing, max_rows=4000)
    assert shapes.is_mixture and len(shapes) == 8
    for shape in shapes:
        tolerance = 1e-6 * (1 + np.abs(shape.rows_upper).max())
        assert (shape.rows_contribution <= shape.rows_upper + tolerance).all(), shape.feature
        assert (shape.rows_contribution >= shape.rows_lower - tolerance).all(), shape.feature
        assert (shape.lower <= shape.upper).all()
        assert shape.experts.shape == (len(shape.grid), kwargs.get("n_experts", 2))


def test_shapes_are_in_original_units_and_mean_centred(housing):
    shapes = shape_functions(small_mixnam(8), housing)
    longitude = shapes["Longitude"]
    assert longitude.grid.min() == pytest.approx(housing.X.Longitude.min())
    assert longitude.grid.max() == pytest.approx(housing.X.Longitude.max())
    assert np.all(np.diff(longitude.grid) > 0) and len(longitude.rows_x) == len(housing.X)
    for shape in shapes:
        assert abs(shape.rows_contribution.mean()) < 1e-9
        assert shape.density.max() == pytest.approx(1.0) and (shape.density >= 0).all()


def test_an_additive_models_rows_lie_on_its_shape_curve(housing):
    torch.manual_seed(0)
    shapes = shape_functions(NAM(8, hidden_dims=(16, 16)), housing)
    age = shapes["HouseAge"]  # 52 whole years: every row's value is a grid point
    assert age.upper is None and len(age.grid) == 52
    assert np.allclose(age.rows_contribution, age.contribution[np.searchsorted(age.grid, age.rows_x)], atol=1e-5)


def test_library_baselines_explain_through_their_contributions(housing):
    linear = LinearBaseline(housing.problem, alphas=[1e-3], seed=0, max_iter=100)
    linear.fit(housing.train, housing.val)
    shapes = shape_functions(linear, housing, max_rows=3000)
    income = shapes["MedInc"]
    transformed = housing.preprocessor.transform(housing.X.iloc[:0].reindex(range(len(income.grid))).fillna(0)
                                                 .assign(MedInc=income.grid))[:, 0]
    assert corr(income.contribution, transformed) == pytest.approx(1.0), "a linear term in model units"
    assert interpretability(linear, housing) == {}, "no gradients, no router: nothing to measure"


def test_categorical_features_get_one_grid_point_per_category(mirror, data_dir, tmp_path):
    income = load("income", data_dir=data_dir, mirror=mirror, max_rows=3000)
    torch.manual_seed(0)
    shapes = shape_functions(small_mixnam(14), income)
    education = shapes["Education"]
    assert education.categorical and set(education.grid) == set(income.X.Education.astype(str))
    assert len(education.density) == len(education.grid)
    paths = save_model_plots(ShapeFunctions(shapes.model, [education, shapes["Age"]]), tmp_path)
    assert all(p.stat().st_size > 1000 for p in paths)


def test_mixnam_bounds_separate_the_two_modes_where_nam_is_flat(multimodal):
    data, mixnam, nam, _ = multimodal
    x1 = mixnam["x1"]
    target = wave(x1.grid)
    # Eq. 9: the bounds are the envelope of the modes +-sin(4 pi x1): max and min over the experts
    assert corr(x1.upper, np.abs(target)) > 0.9 and corr(x1.lower, -np.abs(target)) > 0.9
    # Figure 5: one expert follows each mode
    experts = [corr(curve, target) for curve in x1.experts.T]
    assert max(experts) > 0.9 and min(experts) < -0.9
    # the router sends each row to its own mode: x2 = 1 rows follow sin, x2 = -1 rows follow -sin
    mode = data.X.x2.to_numpy() == 1
    assert corr(x1.rows_contribution[mode], wave(x1.rows_x[mode])) > 0.9
    assert corr(x1.rows_contribution[~mode], -wave(x1.rows_x[~mode])) > 0.9
    # NAM can only learn the average of the two modes: nothing
    assert nam["x1"].contribution.std() < 0.1 < 0.7 < target.std()


def test_trained_mixnam_is_tight_and_less_additive_than_nam(multimodal):
    data, _, _, mixnam = multimodal
    metrics = interpretability(mixnam, data)
    assert 0.0 < metrics["tightness"] <= 1.0
    assert metrics["additivity"] < 0.9, "routing on x2 makes x1's derivative depend on x2"
    assert metrics["extra_params_over_nam"] == 2 * 2 * (3 * 32 + 2) - 2 * 33


def test_on_additive_data_both_experts_follow_the_one_mode():
    data = load("synthetic_unimodal")
    x1 = shape_functions(train(small_mixnam(2), data, epochs=6), data)["x1"]
    assert all(corr(curve, wave(x1.grid)) > 0.9 for curve in x1.experts.T)


def test_plots_and_shape_data_are_written_and_read_back(multimodal, tmp_path):
    _, shapes, nam, _ = multimodal
    paths = save_model_plots(shapes, tmp_path / "mixnam", title="MixNAM") + save_model_plots(nam, tmp_path / "nam")
    names = {p.name for p in paths}
    assert {"shapes.png", "shapes.pdf", "shape_x1.png", "shape_x1.pdf", "experts.png", "experts.pdf"} <= names
    for path in paths:
        head = path.read_bytes()[:8]
        assert path.stat().st_size > 5000 and head.startswith(b"\x89PNG" if path.suffix == ".png" else b"%PDF")
    loaded = ShapeFunctions.load(shapes.save(tmp_path / "shapes.npz"))
    for before, after in zip(shapes, loaded):
        assert before.feature == after.feature and np.array_equal(before.upper, after.upper)
        assert np.array_equal(before.rows_contribution, after.rows_contribution)


def test_make_figures_sweeps_the_simulations_and_draws_figures_4_and_5(tmp_path):
    """End to end: run.py -m experiment=figure4 (smoke budget) -> records with shape data -> figures."""
    runs, out = tmp_path / "runs", tmp_path / "figures"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_figures.py"), "4", "5", "--run", "--runs", str(runs),
         "--out", str(out), "--override", "profile=smoke", "--override", "trainer.max_epochs=2",
         "--override", f"hydra.sweep.dir={tmp_path / 'multirun'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "no run yet" not in result.stdout, result.stdout
    for number in (4, 5):
        assert (out / f"figure{number}.png").stat().st_size > 5000
        assert (out / f"figure{number}.pdf").stat().st_size > 1000
    records = [json.loads(p.read_text()) for p in runs.rglob("*.json")]
    assert len(records) == 4 and all(r["status"] == "completed" for r in records)
    mixnam = next(r for r in records if r["model"] == "mixnam")
    assert {"additivity", "tightness", "extra_params_over_nam"} <= set(mixnam["interpretability"])
    assert "split0-seed0" in mixnam["explain"]["dir"]
    assert any(f.endswith("shape_x1.png") for f in mixnam["explain"]["files"])


def test_a_finished_run_is_explained_from_its_best_weights_without_retraining(tmp_path, mirror):
    from mixnam.experiment import run
    from tests.test_baselines import config

    overrides = ("model=mixnam", "dataset=housing", "data.max_rows=1500", "model.n_layers=2", "model.hidden_dim=16",
                 "trainer.max_epochs=2", "trainer.enable_progress_bar=false")
    trained = run(config(*overrides, runs_dir=tmp_path / "runs", mirror=mirror))
    assert "explain" not in trained
    explained = run(config(*overrides, "explain=true", runs_dir=tmp_path / "runs", mirror=mirror))
    assert explained["finished_at"] == trained["finished_at"] and explained["metrics"] == trained["metrics"]
    files = [tmp_path / "runs" / "default" / "housing" / "mixnam" / f for f in explained["explain"]["files"]]
    assert any(f.name == "shape_Longitude.png" for f in files) and all(f.stat().st_size > 1000 for f in files)
    assert {"interactions.png", "interactions.pdf", "interactions.npz"} <= {f.name for f in files}
    pairs = explained["explain"]["interactions"]  # issue 15: the router makes MixNAM's features interact
    assert np.array(pairs["matrix"]).shape == (8, 8) and pairs["pair_strength"] > 0 and len(pairs["top_pairs"]) == 5
    [path] = (tmp_path / "runs").rglob("*.json")
    assert json.loads(path.read_text())["explain"] == explained["explain"], "the record keeps what was drawn"
