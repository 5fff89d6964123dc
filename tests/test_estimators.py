"""MixNAM on your own data with scikit-learn: the estimators meet scikit-learn's contract, fit on a
DataFrame with categories, explain themselves with expert bounds, say what is wrong with bad input,
and come back from disk predicting exactly what they predicted before, in a fresh process."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import check_estimator

from mixnam import MixNAMClassifier, MixNAMDRegressor, MixNAMRegressor, NAMClassifier
from mixnam.errors import InputError
from mixnam.estimators import SAVE_FORMAT, NeuralAdditiveEstimator
from mixnam.explain import interactions
from tests.conftest import ROOT

TINY = dict(n_layers=1, hidden_dim=16, max_epochs=30, lr=3e-2, batch_size=64)  # seconds per fit; R^2 > 0.7 in the checks
# Checks allowed to fail (they run; a pass is fine), and why.
EXPECTED_FAILED_CHECKS = {
    "check_methods_subset_invariance": "float32 matrix products round differently for a batch of 1 row than of 40: "
                                       "predictions differ by ~1e-7 (float32's precision), the check allows 1e-7",
}


def table(n_rows: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two numeric features and a text one; the label follows x1 and the city."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.normal(size=n_rows), "x2": rng.uniform(size=n_rows),
                      "city": rng.choice(["Paris", "Lyon", "Nice"], n_rows)})
    y = np.where(X.x1 + 1.5 * (X.city == "Paris") + 0.3 * rng.normal(size=n_rows) > 0.5, "buys", "leaves")
    return X, y


@pytest.fixture(scope="module")
def classifier() -> MixNAMClassifier:
    """One fitted classifier that several tests read (never modify)."""
    return MixNAMClassifier(**TINY).fit(*table())


@pytest.mark.parametrize("estimator", [MixNAMRegressor(**TINY), MixNAMClassifier(**TINY)],
                         ids=lambda e: type(e).__name__)
def test_passes_scikit_learns_check_estimator(estimator):
    check_estimator(estimator, expected_failed_checks=EXPECTED_FAILED_CHECKS)


def test_hyper_parameters_are_the_papers_housing_settings_and_clone_keeps_them():
    params = MixNAMRegressor().get_params()
    assert {k: params[k] for k in ("n_layers", "hidden_dim", "lr", "weight_decay", "batch_size", "dropout",
                                    "dropout_expert", "output_penalty", "variation_penalty")} == {
        "n_layers": 4, "hidden_dim": 128, "lr": 5.97e-4, "weight_decay": 5.29e-5, "batch_size": None, "dropout": 0.1,
        "dropout_expert": 0.2, "output_penalty": 1.97e-5, "variation_penalty": 0.1}  # paper Table 5
    model = MixNAMClassifier().set_params(n_experts=8, top_k=2, random_state=3)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert copy._model_config()["n_experts"] == 8 and MixNAMDRegressor()._model_config()["n_experts"] == 64


def test_fits_a_dataframe_with_categories_and_handles_unseen_ones(classifier):
    X, y = table()
    model = classifier
    assert list(model.classes_) == ["buys", "leaves"] and model.categorical_ == ["city"]
    assert model.score(X, y) > 0.75, "the label follows x1 and the city"
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
    unseen = X.head(3).assign(city="Tokyo")
    assert np.isfinite(model.predict_proba(unseen)).all(), "an unseen city is encoded as the training mean"
    assert set(model.predict(unseen)) <= {"buys", "leaves"}


def test_validation_part_is_seeded_and_fitted_inside_fit_so_cross_validation_never_leaks():
    X, y = table()
    first, second = (MixNAMClassifier(**TINY, early_stopping=True).fit(X, y) for _ in range(2))
    assert np.array_equal(first.predict_proba(X), second.predict_proba(X)), "same random_state, same model"
    held_out = np.setdiff1d(X.index, first.preprocessor_.fitted_rows)  # preprocessing saw the training part only
    assert abs(len(held_out) - 0.2 * len(X)) <= 1
    for label in ("buys", "leaves"):
        assert abs(np.mean(y[held_out] == label) - np.mean(y == label)) < 0.02, "stratified by class"
    scores = cross_val_score(MixNAMClassifier(**TINY), X, y, cv=3)
    assert len(scores) == 3 and np.all(scores > 0.6)


def test_explain_gives_shape_functions_with_expert_bounds_and_plot_draws_them():
    X, y = table()
    model = MixNAMRegressor(**TINY).fit(X, (y == "buys").astype(float) + X.x2)
    shapes = model.explain(X)
    assert [s.feature for s in shapes] == ["x1", "x2", "city"] and shapes.is_mixture
    for shape in shapes:
        assert np.all(shape.upper >= shape.lower - 1e-9), "Eq. 9: the upper bound is above the lower one"
        assert len(shape.rows_contribution) == len(X)
    assert list(shapes["city"].grid) == ["Lyon", "Nice", "Paris"]
    assert isinstance(model.plot(X), Figure) and isinstance(model.plot(X, feature="x1", experts=True), Figure)
    nam = NAMClassifier(**TINY).fit(X, y).explain(X)
    assert not nam.is_mixture and nam["x1"].upper is None, "NAM has one expert: a curve, no bounds"


@pytest.mark.parametrize("call,fragment", [
    (lambda m, X: m.explain(X, grid_size=1), "grid_size=1: give a whole number >= 2"),
    (lambda m, X: m.explain(X, max_rows=0), "max_rows=0: give a whole number >= 1 or None"),
    (lambda m, X: m.plot(X, grid_size=2.5), "grid_size=2.5: give a whole number >= 2"),
])
def test_explain_refuses_a_count_that_is_not_a_whole_number_and_names_the_argument(call, fragment):
    X, y = table()
    with pytest.raises(ValueError, match=fragment):
        call(MixNAMRegressor(**TINY).fit(X, X.x2), X)


def test_an_unfitted_estimator_is_told_to_fit_before_it_is_explained():
    X, _ = table()
    for call in (lambda m: m.explain(X), lambda m: interactions(m, X)):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call(MixNAMClassifier())


@pytest.mark.parametrize("call,fragments", [
    (lambda m, X, y: m.fit(X, y[:-1]), ["X has 240 rows but y has 239 values"]),
    (lambda m, X, y: m.fit(X.assign(x2=np.where(X.index == 7, np.nan, X.x2)), y), ["NaN or inf", "['x2']", "impute="]),
    (lambda m, X, y: m.fit(X.assign(x1=np.inf), y), ["NaN or inf", "['x1']"]),
    (lambda m, X, y: m.fit(X, np.array(["a", "b", "c"])[np.arange(len(y)) % 3]),
     ["Only binary classification", "OneVsRestClassifier"]),
    (lambda m, X, y: m.set_params(impute="zero").fit(X, y), ["impute='zero'", "'median'"]),
])
def test_bad_input_gets_one_message_naming_the_problem_and_the_fix(call, fragments):
    X, y = table()
    with pytest.raises(InputError) as error:
        call(MixNAMClassifier(**TINY), X, y)
    for fragment in fragments:
        assert fragment in str(error.value)


@pytest.mark.parametrize("setting,fragment", [
    ({"hidden_dim": 0}, "hidden_dim=0 must be an integer >= 1 (the latent width d)"),
    ({"n_layers": 0}, "n_layers=0 must be an integer >= 1"),
    ({"n_experts": 0}, "n_experts=0 must be an integer >= 1 (C, the experts per feature)"),
    ({"max_epochs": 2.5}, "max_epochs=2.5 must be an integer >= 1"),
    ({"variation_penalty": -1.0}, "variation_penalty=-1.0 must be a number in [0, inf)"),
    ({"output_penalty": float("inf")}, "output_penalty=inf must be a number in [0, inf)"),
    ({"lr": -1e-3}, "lr=-0.001 must be a number in (0, inf) (the learning rate)"),
    ({"weight_decay": -1.0}, "weight_decay=-1.0 must be a number in [0, inf)"),
])
def test_a_hyper_parameter_out_of_its_configs_bounds_is_refused_by_name_before_training(setting, fragment):
    """The estimators obey the harness's config rules (mixnam.validation): a negative penalty or a zero width
    fails at fit's first line, not as a NaN loss or a shape error in torch."""
    X, y = table()
    with pytest.raises(InputError, match=re.escape(fragment)):
        MixNAMRegressor(**{**TINY, **setting}).fit(X, X.x2)


def test_numpy_numbers_from_a_parameter_grid_are_taken_as_the_numbers_they_are():
    X, _ = table()
    model = MixNAMRegressor(**{**TINY, "hidden_dim": np.int64(8), "lr": np.float32(1e-3),
                               "max_epochs": np.int64(TINY["max_epochs"])}).fit(X, X.x2)
    assert (model.network_.cfg.model.hidden_dim, model.network_.cfg.model.lr) == (8, pytest.approx(1e-3))
    assert np.isfinite(model.predict(X)).all()


def test_wrong_columns_at_predict_time_are_named_and_nan_can_be_imputed():
    X, y = table()
    gaps = X.assign(x2=np.where(X.index % 10 == 0, np.nan, X.x2))
    model = MixNAMClassifier(**TINY, impute="median").fit(gaps, y)
    assert model.fill_values_["x2"] == pytest.approx(np.nanmedian(gaps.x2), abs=0.1)
    assert np.isfinite(model.predict_proba(gaps)).all()
    with pytest.raises(InputError, match=re.escape("Feature names unseen at fit time:\n- age")) as error:
        model.predict(X.rename(columns={"x1": "age"}))
    assert "Give X the columns fit saw, in its order: ['x1', 'x2', 'city']" in str(error.value)


def test_saved_and_loaded_in_a_fresh_process_it_predicts_identically(tmp_path, classifier):
    X, model = table()[0], classifier
    path = model.save(tmp_path / "model.pt")
    X.to_csv(tmp_path / "rows.csv", index=False)
    np.save(tmp_path / "before.npy", model.predict_proba(X))
    script = (f"import numpy as np, pandas as pd\nfrom mixnam import MixNAMClassifier\n"
              f"model = MixNAMClassifier.load({str(path)!r})\n"
              f"rows = pd.read_csv({str(tmp_path / 'rows.csv')!r})\n"
              f"np.save({str(tmp_path / 'after.npy')!r}, model.predict_proba(rows))")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=300)
    assert np.array_equal(np.load(tmp_path / "before.npy"), np.load(tmp_path / "after.npy"))
    loaded = MixNAMClassifier.load(path)
    assert loaded.get_params() == model.get_params() and list(loaded.classes_) == list(model.classes_)


def test_load_names_the_version_mismatch_and_refuses_unsafe_files(tmp_path, classifier):
    import torch

    path = classifier.save(tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "format": SAVE_FORMAT + 1, "versions": {**payload["versions"], "mixnam": "9.9"}},
               tmp_path / "future.pt")
    with pytest.raises(InputError, match=r"saved by mixnam 9\.9 in file format 2.*Install mixnam==9\.9"):
        NeuralAdditiveEstimator.load(tmp_path / "future.pt")
    torch.save({"code": object()}, tmp_path / "pickle.pt")  # needs unpickling arbitrary objects: refused
    with pytest.raises(InputError, match="cannot be read as a saved mixnam estimator"):
        NeuralAdditiveEstimator.load(tmp_path / "pickle.pt")
    with pytest.raises(InputError, match="holds a MixNAMClassifier, not a MixNAMRegressor"):
        MixNAMRegressor.load(path)


@pytest.mark.parametrize("page", ["README.md", "docs/own-data.md"])
def test_the_own_data_example_runs_as_written(page, tmp_path, monkeypatch):
    """The README's five-line example and the own-data page's longer one, exactly as a user copies them."""
    [example] = re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, page, "exec"), {})
    assert (tmp_path / "breast_cancer_shapes.png").stat().st_size > 0


def test_a_small_table_trains_on_every_row_for_the_whole_budget_and_a_large_one_stops_early(classifier):
    """A validation part of a small table is a fifth of its rows and picks its epoch by noise: below 10,000
    rows `early_stopping="auto"` trains on every row for `max_epochs` and keeps the last epoch's weights."""
    X, y = table()
    assert list(classifier.preprocessor_.fitted_rows) == list(X.index), "every row trains"
    assert classifier.epochs_run_ == classifier.best_epoch_ == TINY["max_epochs"], "the whole budget, the last epoch"
    model = MixNAMClassifier()
    assert not model._early_stopping_on(10_000, False) and model._early_stopping_on(10_001, False)
    assert model._early_stopping_on(300, validation_given=True), "X_val is for early stopping: given, it is used"
    with pytest.raises(InputError, match="early_stopping=False turns off"):
        MixNAMClassifier(**TINY, early_stopping=False).fit(X, y, X_val=X, y_val=y)
    with pytest.raises(InputError, match="early_stopping='sometimes' is not a choice"):
        MixNAMClassifier(**TINY, early_stopping="sometimes").fit(X, y)


@pytest.mark.parametrize("n_train,batch_size,patience", [
    (40, 16, 100), (318, 16, 25), (398, 16, 25), (2_000, 64, 25), (10_000, 256, 25),  # ~32 steps an epoch
    (11_558, 2048, 25), (14_448, 2048, 25)])  # Housing-size and larger: the paper's batch, a quarter of the budget
def test_batch_size_and_patience_come_from_the_row_count_so_a_small_table_is_not_one_step_an_epoch(
        n_train, batch_size, patience):
    """Breast cancer's 398 rows were one step an epoch at the paper's 2048 (test AUC 0.971 at 20 epochs);
    now about 32 steps an epoch, and early stopping, when on, waits at least 300 steps. Tables of more
    than 10,000 training rows keep the paper's Housing settings (Table 5)."""
    model = MixNAMClassifier()
    model._resolve_schedule(n_train)
    assert (model.batch_size_, model.patience_) == (batch_size, patience)
    assert model._run_config("unused", 0).model.batch_size == batch_size
    assert model._run_config("unused", 0).model.lr == 5.97e-4, "the learning rate stays the paper's at every size"
    given = MixNAMClassifier(batch_size=64, patience=7)
    given._resolve_schedule(n_train)
    assert (given.batch_size_, given.patience_) == (64, 7)


def test_an_object_array_with_text_is_read_as_categories_and_the_callers_thread_count_is_kept():
    import torch

    X, y = table()
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        model = MixNAMClassifier(**TINY).fit(X.to_numpy(), y)  # a ColumnTransformer's output: dtype object
        assert torch.get_num_threads() == 3, "fit gives back the caller's setting"
    finally:
        torch.set_num_threads(threads)
    assert model.categorical_ == ["x2"] and model.score(X.to_numpy(), y) > 0.75
    with pytest.raises(InputError, match=r"column\(s\) \['x0'\] hold text"):
        model.predict(X.assign(x1="high").to_numpy())


def test_a_torch_file_of_another_program_is_named_as_such(tmp_path):
    import torch

    torch.save({"state": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not one a mixnam estimator saved") as error:
        NeuralAdditiveEstimator.load(tmp_path / "other.pt")
    assert "unknown" not in str(error.value)


def test_the_readme_examples_budget_learns_breast_cancer_from_every_row():
    """At the README example's budget (`hidden_dim=32, max_epochs=20`) on a 70/30 split of breast cancer:
    the former one step an epoch (batch 2048) reached a test AUC of 0.971, early stopping on a carved fifth
    0.982 (seed 0; 0.985 over seeds 0-9); every row for the whole budget 0.990 (seed 0 and the mean of seeds
    0-9 on an AVX2 EPYC, 0.987-0.993). The bar sits below 0.990 by the seed-to-seed spread, as another CPU's
    float32 rounding moves a 20-epoch fit (docs/own-data.md#small-tables)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    model = MixNAMClassifier(hidden_dim=32, max_epochs=20, random_state=0).fit(X_train, y_train)
    assert model.batch_size_ == 16 and model.epochs_run_ == model.best_epoch_ == 20
    assert roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]) > 0.987
