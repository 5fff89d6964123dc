"""Library baselines (EBM, EB2M, XGBoost, linear, spline, NODE family) run like every other model.

Each one goes through `mixnam.experiment.run` (what run.py calls) on a small real slice of Housing
(regression) and Income (classification with categorical features), on a tiny budget, and writes a
completed record. Additive ones also keep their contract on real rows: per-term contributions plus
the intercept, through the link, equal the prediction.
"""
from __future__ import annotations

import logging
import re
import sys

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

import mixnam.data
import mixnam.models
import mixnam.training
from mixnam.contracts import Problem
from mixnam.errors import ConfigError, MixnamError
from mixnam.experiment import run
from mixnam.models import LIBRARY
from mixnam.models.budget import capped_settings
from tests.conftest import ROOT
from tests.test_models import single_thread  # noqa: F401 - autouse fixture

TINY_NODE = ["model.max_rounds=40", "model.report_frequency=10", "model.batch_size=128", "model.num_trees=8",
             "model.anneal_steps=10", "model.lr_warmup_steps=0", "model.early_stopping_rounds=100"]
TINY_EBM = ["+model.outer_bags=2", "+model.max_rounds=300", "+model.n_jobs=1"]
TINY = {
    "linear": [],
    "spline": ["model.n_splines=8", "model.lams=[1.0]"],
    "xgboost": ["model.n_estimators=60", "model.early_stopping_rounds=10", "model.n_jobs=1"],
    "ebm": TINY_EBM,
    "eb2m": [*TINY_EBM, "+model.interactions=3"],
    "node": TINY_NODE,
    "nodegam": TINY_NODE,
    "nodega2m": TINY_NODE,
}
ADDITIVE = ("linear", "spline", "ebm", "eb2m", "nodegam", "nodega2m")


def config(*overrides: str, runs_dir=None, mirror=None) -> DictConfig:
    paths = [f"paths.root={ROOT}"] + ([f"paths.runs_dir={runs_dir}"] if runs_dir else [])
    data = [f"data.mirror={mirror}"] if mirror else []
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[*paths, *data, *overrides])


@pytest.fixture
def captured(monkeypatch):
    """What experiment.run built and loaded, so a test can inspect the fitted estimator on real rows."""
    seen = {}

    def keep(name, real):
        def wrapper(*args, **kwargs):
            seen[name] = real(*args, **kwargs)
            return seen[name]
        return wrapper

    monkeypatch.setattr(mixnam.training, "build_estimator", keep("estimator", mixnam.training.build_estimator))
    monkeypatch.setattr(mixnam.data, "load", keep("data", mixnam.data.load))
    return seen


@pytest.mark.parametrize("dataset,metric", [("housing", "rmse"), ("income", "auc")])
@pytest.mark.parametrize("model", LIBRARY)
def test_baseline_runs_on_a_real_slice_and_additive_ones_sum_to_their_prediction(
        model, dataset, metric, tmp_path, mirror, captured, caplog):
    cfg = config(f"model={model}", f"dataset={dataset}", "data.max_rows=600", *TINY[model],
                 runs_dir=tmp_path / "runs", mirror=mirror)
    with caplog.at_level(logging.INFO):
        record = run(cfg)
    assert record["status"] == "completed" and record["model"] == model
    assert f"{dataset}/{model}/split0-seed0-{record['run_id']}: fitted in" in caplog.text  # a log says it is done
    if model.startswith("node"):  # NODE's steps are not Lightning epochs: its own loop reports each evaluation
        assert [int(step) for step in re.findall(r"step (\d+)/40: validation", caplog.text)] == [10, 20, 30, 40]
    assert np.isfinite(record["metrics"]["test"][metric]) and record["n_params"] > 0
    if metric == "auc":  # chance level here has meant target leakage in the categorical encoding
        assert record["metrics"]["test"]["auc"] > 0.6, "a tiny budget still beats chance on Income"

    estimator, data = captured["estimator"], captured["data"]
    if model not in ADDITIVE:
        assert not hasattr(estimator, "contributions")
        return
    X = data.test.X
    terms = estimator.contributions(X)
    assert terms.shape == (len(X), len(estimator.term_features))
    assert [f for f in estimator.term_features[: X.shape[1]]] == [(i,) for i in range(X.shape[1])]
    np.testing.assert_allclose(estimator.inverse_link(terms.sum(axis=1) + estimator.intercept),
                               estimator.predict(X), rtol=1e-5, atol=1e-6)
    shapes = estimator.shape_functions(data.train.X)
    assert len(shapes["terms"]) == len(estimator.term_features) and shapes["link"] in ("identity", "logit")


def test_ebm_shape_functions_are_interprets_bins_and_match_its_contributions(mirror):
    cfg = config("model=eb2m", "dataset=housing", *TINY_EBM, "+model.interactions=2", mirror=mirror)
    data = mixnam.data.load("housing", data_dir=ROOT / "data", mirror=cfg.data.mirror, max_rows=1500)
    ebm = mixnam.training.build_estimator(cfg, data.problem)
    ebm.fit(data.train, data.val)
    shapes = ebm.shape_functions()
    assert [t["features"] for t in shapes["terms"]] == [list(f) for f in ebm.term_features]
    assert sum(len(t["features"]) == 2 for t in shapes["terms"]) == 2
    # Evaluating each main term at the middle of its bins gives back the scores interpret reports.
    for t, term in enumerate(shapes["terms"][: data.problem.n_features]):
        edges = term["x"]
        rows = np.tile(np.median(data.train.X, axis=0), (len(edges) - 1, 1))
        rows[:, term["features"][0]] = (edges[1:] + edges[:-1]) / 2
        np.testing.assert_allclose(ebm.contributions(rows)[:, t], term["scores"], atol=1e-9)
    assert ebm.n_params == sum(s.size for s in ebm.model.term_scores_) + 1


def test_xgboost_stops_early_on_the_validation_split(mirror):
    cfg = config("model=xgboost", "dataset=income", "model.n_estimators=2000", "model.early_stopping_rounds=5",
                 "model.learning_rate=0.5", "model.n_jobs=1", mirror=mirror)
    data = mixnam.data.load("income", data_dir=ROOT / "data", mirror=cfg.data.mirror, max_rows=1500)
    xgb = mixnam.training.build_estimator(cfg, data.problem)
    summary = xgb.fit(data.train, data.val)
    assert summary.epochs_run == summary.best_epoch + 1 + 5 < 2000
    assert xgb.model.get_params()["eval_metric"] == "auc"


def test_linear_and_spline_pick_their_penalty_on_the_validation_split(mirror):
    data = mixnam.data.load("housing", data_dir=ROOT / "data", mirror=mirror, max_rows=1000)
    for name, overrides, key in (("linear", [], "alpha"), ("spline", ["model.n_splines=8", "model.lams=[0.01,100.0]"], "lam")):
        cfg = config(f"model={name}", *overrides)
        extra = mixnam.training.build_estimator(cfg, data.problem).fit(data.train, data.val).extra
        scores = extra[f"val_by_{key}"]
        assert set(scores) == {str(v) for v in cfg.model[f"{key}s"]}
        assert scores[str(extra[key])] == min(scores.values())  # RMSE: lower is better


def test_node_family_takes_nodegams_published_settings():
    income = OmegaConf.to_container(config("model=nodegam", "dataset=income").model)
    assert income.items() >= {"arch": "GAM", "ga2m": 0, "num_trees": 666, "num_layers": 3, "depth": 4}.items()
    assert config("model=nodega2m", "dataset=income").model.ga2m == 1
    assert config("model=node", "dataset=credit").model.arch == "ODST"
    assert config("model=nodega2m", "dataset=housing").model.num_trees == 200  # nothing published: defaults


def settings(estimator) -> dict:
    """What a built estimator will run with: its library's parameters (interpret, XGBoost), NODE's
    hyper-parameters, or the attributes of our own wrapper (linear, spline)."""
    if hasattr(getattr(estimator, "model", None), "get_params"):
        return estimator.model.get_params()
    return vars(estimator.args) if hasattr(estimator, "args") else vars(estimator)


@pytest.mark.parametrize("model", LIBRARY)
def test_a_smoke_check_caps_every_library_models_own_budget(model):
    """profile=smoke lowers each library model's budget below the paper's (Credit: NODE's 3 x 1,333 trees)."""
    problem = Problem("classification", "auc", tuple(f"x{i}" for i in range(30)))
    paper_cfg, smoke_cfg = (config(f"model={model}", "dataset=credit", f"profile={p}") for p in ("paper", "smoke"))
    paper, smoke = (settings(mixnam.training.build_estimator(c, problem)) for c in (paper_cfg, smoke_cfg))
    ceilings = OmegaConf.to_container(smoke_cfg.budget_caps[model])
    assert ceilings, f"profile=smoke leaves {model}'s budget as configured"
    for key, ceiling in ceilings.items():
        assert smoke[key] <= ceiling and smoke[key] != paper[key], f"{model}: {key} {paper[key]} -> {smoke[key]}"
    assert capped_settings(smoke_cfg) == {key: smoke[key] for key in ceilings} and capped_settings(paper_cfg) == {}


def test_a_smoke_check_caps_neural_models_at_its_epoch_budget():
    assert all(config(f"model={model}", "profile=smoke").trainer.max_epochs == 2 for model in mixnam.models.NEURAL)
    estimator = mixnam.training.build_estimator(config("model=mixnam", "profile=smoke"), Problem("regression", "rmse", ("a",)))
    assert estimator.cfg.trainer.max_epochs == 2  # what its fit reads
    assert config("model=node", "profile=smoke").trainer.max_epochs == 2  # NODE's steps: 2 epochs of batches


@pytest.mark.parametrize("model", mixnam.models.NEURAL)
def test_a_smoke_check_narrows_every_neural_model(model):
    """Widths too (Year's 4,005 pair networks): each capped key is smaller than the paper's, list widths layer by layer."""
    paper_cfg, smoke_cfg = (config(f"model={model}", "dataset=housing", f"profile={p}") for p in ("paper", "smoke"))
    capped = capped_settings(smoke_cfg)
    assert capped, f"profile=smoke leaves {model}'s widths as configured"
    built = mixnam.training.build_estimator(smoke_cfg, Problem("regression", "rmse", ("a", "b"))).cfg.model
    built, paper = (OmegaConf.to_container(m) for m in (built, paper_cfg.model))
    width = lambda v: sum(v) if isinstance(v, list) else v  # noqa: E731
    for key, value in capped.items():
        assert built[key] == value and width(value) < width(paper[key]), f"{model}: {key} {paper[key]} -> {value}"


def test_a_width_cap_lowers_each_layer_above_it():
    assert capped_settings(config("model=nam", "+budget_caps.nam.hidden_dims=48")) == {"hidden_dims": [48, 48, 32]}


def test_a_cap_below_the_configured_value_wins_and_one_above_it_changes_nothing():
    cfg = config("model=xgboost", "+budget_caps.xgboost.n_estimators=50", "+budget_caps.xgboost.max_depth=100")
    assert capped_settings(cfg) == {"n_estimators": 50, "max_depth": 6}


@pytest.mark.parametrize("override,problem", [("+budget_caps.xgbost.n_estimators=5", "no model is called 'xgbost'"),
                                              ("+budget_caps.xgboost.n_estimators=0", "must be a positive number")])
def test_a_wrong_budget_cap_is_named_with_its_fix(override, problem):
    with pytest.raises(ConfigError, match=problem):
        capped_settings(config("model=xgboost", override))


@pytest.mark.parametrize("model", ["node", "nodegam", "nodega2m"])
def test_missing_nodegam_says_how_to_install_it(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "nodegam", None)  # what `import nodegam` sees when it is not installed
    cfg = config(f"model={model}")
    with open_dict(cfg):
        cfg.run_dir = None
    problem = Problem("regression", "rmse", ("a", "b"))
    with pytest.raises(MixnamError, match=r"pip install -e \.\[node\]") as error:
        mixnam.training.build_estimator(cfg, problem)
    assert isinstance(error.value, ImportError)  # still what callers catching ImportError expect
