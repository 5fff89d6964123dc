"""Training follows the paper's protocol: best-validation weights, early stopping, clear failures."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from mixnam.contracts import Arrays, Problem
from mixnam.data import load
from mixnam.models import NEURAL
from mixnam.training.lightning import TensorBatches, build, build_model
from tests.conftest import ROOT
from tests.test_models import single_thread  # noqa: F401 - autouse fixture

TINY_MIXNAM = ["model.n_layers=2", "model.hidden_dim=16"]


def config(*overrides: str, run_dir=None) -> DictConfig:
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["trainer.enable_progress_bar=false", *overrides])
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)
    return cfg


# --- configuration ---------------------------------------------------------------------------------

def test_tuned_epoch_budget_survives_the_trainer_group_and_overrides_win():
    assert config("model=mixnam", "dataset=housing").trainer.max_epochs == 1000
    year = config("model=mixnam", "dataset=year")
    assert (year.trainer.max_epochs, year.model.batch_size, year.model.lr) == (75, 512, 1.17e-4)
    assert config("model=mixnam", "dataset=credit").model.normalization == "batch_norm"
    assert config("model=mixnam", "dataset=year", "trainer.max_epochs=3").trainer.max_epochs == 3
    assert config("model=mixnam", "dataset=year", "trainer=smoke").trainer.max_epochs == 2
    assert config("model=nbm", "dataset=housing").model.lr == 1.956e-3  # nbm-spam's published run
    assert config("model=linear").trainer.max_epochs is None


@pytest.mark.parametrize("dataset", ["housing", "mimic2", "mimic3", "income", "credit", "year"])
def test_every_dataset_has_the_papers_mixnam_settings(dataset):
    cfg = config("model=mixnam", f"dataset={dataset}")
    assert (cfg.model.n_layers, cfg.model.hidden_dim, cfg.model.n_experts, cfg.model.top_k) == (4, 128, 4, 4)
    assert cfg.model.variation_penalty == 0.1


@pytest.mark.parametrize("name", NEURAL)
def test_every_neural_config_builds_its_model(name):
    model = build_model(config(f"model={name}").model, n_features=3)
    assert model(torch.zeros(4, 3)).shape == (4,)


# --- batches ---------------------------------------------------------------------------------------

def test_batches_cover_every_row_once_per_epoch_in_a_fresh_order():
    X, y = torch.arange(10.0)[:, None], torch.arange(10.0)
    batches = TensorBatches(X, y, batch_size=3, seed=0)
    assert len(batches) == 3, "a trailing single row joins the batch before it"
    first, second = (torch.cat([b[1] for b in batches]) for _ in range(2))
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert not torch.equal(first, second)
    assert torch.equal(torch.cat([b[1] for b in TensorBatches(X, y, batch_size=4)]), y), "no seed: in order"


# --- fitting ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def housing_slice(data_dir, mirror):
    return load("housing", data_dir=data_dir, mirror=mirror, max_rows=3000)


def test_a_short_mixnam_run_lowers_the_validation_error_and_keeps_its_best_weights(housing_slice, tmp_path):
    data = housing_slice
    cfg = config("model=mixnam", "trainer.max_epochs=6", "model.batch_size=256", *TINY_MIXNAM, run_dir=tmp_path)
    estimator = build(cfg, data.problem)
    untrained = data.problem.primary(data.val.y, estimator.predict(data.val.X))
    summary = estimator.fit(data.train, data.val)
    trained = data.problem.primary(data.val.y, estimator.predict(data.val.X))
    assert trained < 0.8 * untrained
    assert 1 <= summary.best_epoch <= summary.epochs_run <= 6
    assert (tmp_path / "best.pt").exists() and (tmp_path / "metrics.csv").exists()
    best = torch.load(tmp_path / "best.pt")
    assert all(torch.equal(best[k], v) for k, v in estimator.model.state_dict().items()), "test uses the best"
    contributions = estimator.contributions(data.val.X)
    np.testing.assert_allclose(contributions.sum(1) + estimator.intercept, estimator.predict(data.val.X), atol=1e-5)
    assert estimator.term_names == list(data.problem.feature_names)


def toy_classification(rows: int = 600) -> tuple[Problem, Arrays, Arrays]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.5).astype(np.float32)
    problem = Problem("classification", "auc", ("a", "b", "c"))
    half = rows // 2
    return problem, Arrays(X[:half], y[:half]), Arrays(X[half:], y[half:])


@pytest.mark.parametrize("name", ["mixnam_d", "mixnam_e", "na2m", "nb2m", "mlp"])
def test_classifiers_predict_probabilities_that_rank_well(name, tmp_path):
    problem, train, val = toy_classification()
    small = {"mixnam_d": [*TINY_MIXNAM, "model.n_experts=4", "model.top_k=4"],
             "mixnam_e": [*TINY_MIXNAM, "model.n_experts=4", "model.top_k=2"]}.get(name, ["model.hidden_dims=[16]"])
    estimator = build(config(f"model={name}", "trainer.max_epochs=15", "model.batch_size=64", "model.lr=3e-3", *small,
                             run_dir=tmp_path), problem)
    estimator.fit(train, val)
    p = estimator.predict(val.X)
    assert ((p >= 0) & (p <= 1)).all()
    assert problem.primary(val.y, p) > 0.8


def test_a_diverging_loss_stops_with_the_epoch_named(tmp_path):
    problem, train, val = toy_classification()
    X = train.X.copy()
    X[5, 0] = np.nan
    estimator = build(config("model=nam", "model.hidden_dims=[8]", "trainer.max_epochs=2", run_dir=tmp_path), problem)
    with pytest.raises(FloatingPointError, match="epoch 1"):
        estimator.fit(Arrays(X, train.y), val)


def test_run_py_trains_mixnam_and_records_the_best_checkpoint(tmp_path):
    runs = tmp_path / "runs"
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "model=mixnam", "trainer=smoke", "data.max_rows=2000",
                             "model.hidden_dim=16", "trainer.num_threads=1", f"paths.runs_dir={runs}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    [path] = runs.rglob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "completed" and record["model"] == "mixnam" and record["max_epochs"] == 2
    assert record["epochs_run"] <= 2 and 1 <= record["best_epoch"] <= record["epochs_run"]
    assert record["metrics"]["test"]["rmse"] > 0 and record["n_params"] > 0
    assert record["precision"] == "32-true" and record["num_threads"] == 1
    assert record["num_threads_reason"] == "trainer.num_threads=1"
    assert "1 thread: trainer.num_threads=1" in result.stdout.split(": fitting on")[0], result.stdout[-3000:]
    assert (path.with_suffix("") / "best.pt").exists()
