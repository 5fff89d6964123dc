"""The data layer reproduces the paper's datasets and protocols exactly, and rejects bad files."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from mixnam.data import load
from mixnam.data.datasets import DATASETS, MIMIC3_FEATURES, get_spec, read
from mixnam.data.sources import fetch
from mixnam.errors import DataError


def test_housing_is_sklearns_california_housing(data_dir, mirror):
    d = load("housing", data_dir=data_dir, mirror=mirror)
    assert len(d.X) == 20640
    assert list(d.X.columns) == ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup",
                                 "Latitude", "Longitude"]
    assert d.y.mean() == pytest.approx(2.068558, abs=1e-6)
    assert d.X["MedInc"].mean() == pytest.approx(3.870671, abs=1e-6)


def test_housing_split_is_the_authors_70_10_20(data_dir, mirror):
    d = load("housing", seed=3, data_dir=data_dir, mirror=mirror)
    train, val, test = d.indices.train, d.indices.val, d.indices.test
    assert (len(train), len(val), len(test)) == (14447, 2065, 4128)
    assert len(np.intersect1d(train, val)) == len(np.intersect1d(train, test)) == len(np.intersect1d(val, test)) == 0
    again = load("housing", seed=7, data_dir=data_dir, mirror=mirror).indices
    assert np.array_equal(again.test, test) and np.array_equal(again.val, val), "same split for every seed"


def test_income_has_its_categoricals_and_label_balance(data_dir, mirror):
    d = load("income", data_dir=data_dir, mirror=mirror)
    assert len(d.X) == 32561 and d.X.shape[1] == 14
    assert len(d.problem.categorical) == 8  # found as non-numeric columns, also under pandas >= 3
    assert int(d.y.sum()) == 7841
    assert d.train.X.dtype == np.float32 and np.isfinite(d.train.X).all()


def test_cv_folds_partition_the_data_and_parts_never_overlap(data_dir, mirror):
    tests = []
    for fold in range(5):
        idx = load("income", split=fold, data_dir=data_dir, mirror=mirror).indices
        parts = [set(idx.train), set(idx.val), set(idx.test)]
        assert sum(map(len, parts)) == 32561 and len(set.union(*parts)) == 32561
        assert "generated stratified 5-fold" in idx.source
        tests.append(idx.test)
    everything = np.concatenate(tests)
    assert len(everything) == 32561 and len(np.unique(everything)) == 32561


def test_validation_is_a_stratified_fifth_of_the_training_fold(data_dir, mirror):
    d = load("income", split=2, seed=1, data_dir=data_dir, mirror=mirror)
    n_fold = len(d.indices.train) + len(d.indices.val)
    assert len(d.indices.val) == pytest.approx(0.2 * n_fold, abs=1)
    assert d.y[d.indices.val].mean() == pytest.approx(d.y[d.indices.train].mean(), abs=0.005)


def test_credit_from_the_compressed_mirror(data_dir, mirror):
    X, y = read(get_spec("credit"), data_dir, mirror)
    assert X.shape == (284807, 30) and int(y.sum()) == 492
    assert list(X.columns[:2]) == ["Time", "V1"] and X.columns[-1] == "Amount"


def test_preprocessor_never_sees_validation_or_test_rows(data_dir, mirror):
    d = load("income", data_dir=data_dir, mirror=mirror)
    assert set(d.preprocessor.fitted_rows) == set(d.X.index[d.indices.train])
    # Changing every validation/test value leaves the fitted transform of training rows unchanged.
    spoiled = d.X.copy()
    held_out = np.concatenate([d.indices.val, d.indices.test])
    spoiled.loc[held_out, "Age"] = 99
    from mixnam.data.preprocess import Preprocessor

    pre = Preprocessor("classification", list(d.problem.categorical), seed=0)
    X_train, _ = pre.fit_transform(spoiled.iloc[d.indices.train], d.y[d.indices.train])
    assert np.array_equal(X_train, d.train.X)


def test_training_rows_get_their_category_mean_not_a_leave_one_out_label_leak():
    """NODE-GAM's recipe: the LOO encoder is fitted on the labels but applied without them."""
    from mixnam.data.preprocess import Preprocessor

    X = pd.DataFrame({"job": ["a"] * 4 + ["b"] * 4, "age": np.arange(8.0)})
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0], dtype=float)
    pre = Preprocessor("classification", ["job"], seed=0)
    X_train, _ = pre.fit_transform(X, y)
    same_category = X_train[:4, 0]
    assert np.ptp(same_category) < 1e-2, "rows of one category differ only by the quantile noise, not by label"
    assert np.allclose(X_train, pre.transform(X), atol=1e-2), "training rows are encoded like held-out rows"


def test_regression_target_is_standardised_and_inverted_for_metrics(data_dir, mirror):
    d = load("housing", data_dir=data_dir, mirror=mirror)
    assert abs(d.train.y.mean()) < 1e-5 and d.train.y.std() == pytest.approx(1, abs=1e-4)
    assert np.allclose(d.preprocessor.inverse_target(d.test.y), d.y[d.indices.test], atol=1e-5)
    assert d.problem.score(d.test.y, d.test.y)["rmse"] == pytest.approx(0, abs=1e-5)


# ---------------------------------------------------------------- datasets not in the mirror: exact raw schema
def _write_year(folder, rows=1000):
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.integers(1922, 2011, rows), rng.normal(size=(rows, 90))])
    folder.mkdir(parents=True)
    np.savetxt(folder / "YearPredictionMSD.txt", table, delimiter=",", fmt="%.6f")


def _write_mimic2(folder, rows=500):
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.integers(0, 5, size=(rows, 17)), rng.integers(0, 2, rows)])
    folder.mkdir(parents=True)
    np.savetxt(folder / "mimic2.data", table, delimiter=" ", fmt="%d")


def _write_mimic3(folder, rows=500):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 57)), columns=MIMIC3_FEATURES)
    frame.insert(0, "subject_id", np.arange(rows))  # extra columns are ignored, as in NODE-GAM
    frame["mort_icu"] = rng.integers(0, 2, rows)
    folder.mkdir(parents=True)
    with gzip.open(folder / "adult_icu.gz", "wt") as handle:
        frame.to_csv(handle, index=False)


def test_year_loader_and_node_split_on_a_file_with_the_raw_schema(tmp_path):
    _write_year(tmp_path / "year")
    d = load("year", seed=1, data_dir=tmp_path, verify_rows=False)
    assert d.X.shape == (1000, 90) and d.problem.metric == "mse"
    n_test = round(1000 * 51630 / 515345)
    assert np.array_equal(d.indices.test, np.arange(1000 - n_test, 1000)), "the last rows are the test set"
    with pytest.raises(DataError, match="515,345"):
        load("year", data_dir=tmp_path)  # the canonical row check rejects a truncated file


def test_mimic_loaders_on_files_with_the_raw_schema(tmp_path):
    _write_mimic2(tmp_path / "mimic2")
    _write_mimic3(tmp_path / "mimic3")
    d2 = load("mimic2", data_dir=tmp_path, verify_rows=False)
    assert d2.X.shape[1] == 17 and len(d2.problem.categorical) == 7
    d3 = load("mimic3", data_dir=tmp_path, verify_rows=False)
    assert list(d3.X.columns) == MIMIC3_FEATURES and d3.problem.categorical == ()


def test_node_gam_fold_files_are_used_when_present(tmp_path):
    _write_mimic2(tmp_path / "mimic2", rows=100)
    np.savetxt(tmp_path / "mimic2" / "train0.txt", np.arange(20, 100), fmt="%d")
    np.savetxt(tmp_path / "mimic2" / "test0.txt", np.arange(20), fmt="%d")
    d = load("mimic2", data_dir=tmp_path, verify_rows=False)
    assert "NODE-GAM fold files" in d.indices.source
    assert np.array_equal(d.indices.test, np.arange(20))


def test_missing_mimic_files_say_where_they_go_and_how_to_get_access(tmp_path):
    with pytest.raises(DataError) as error:
        load("mimic3", data_dir=tmp_path)
    message = str(error.value)
    assert "adult_icu.gz" in message and str(tmp_path / "mimic3") in message and "physionet.org" in message


def test_unknown_dataset_names_the_closest_valid_ones():
    with pytest.raises(DataError, match="Did you mean housing"):
        get_spec("housin")


# ---------------------------------------------------------------- damaged files never pass as data
def test_truncated_cache_file_is_refetched_from_the_mirror(tmp_path, mirror, data_dir):
    spec = DATASETS["income"]
    good = fetch(spec.files[0], "income", data_dir, mirror)
    cached = tmp_path / "income" / "adult.data"
    cached.parent.mkdir()
    cached.write_bytes(good.read_bytes()[:1000])
    assert fetch(spec.files[0], "income", tmp_path, mirror).read_bytes() == good.read_bytes()


def test_corrupt_mirror_file_is_rejected_with_a_clear_message(tmp_path, mirror, data_dir):
    bad_mirror = tmp_path / "mirror"
    (bad_mirror / "income").mkdir(parents=True)
    good = fetch(DATASETS["income"].files[0], "income", data_dir, mirror)
    (bad_mirror / "income" / "adult.data").write_bytes(good.read_bytes()[:-500])
    cache = tmp_path / "cache"
    spec = DATASETS["income"]
    local_only = type(spec.files[0])(spec.files[0].name, spec.files[0].sha256, spec.files[0].sources[:1])
    with pytest.raises(DataError, match="truncated or corrupt"):
        fetch(local_only, "income", cache, str(bad_mirror))
    assert not (cache / "income" / "adult.data").exists(), "nothing half-written is left in the cache"


def test_wrong_schema_names_the_missing_columns(tmp_path):
    folder = tmp_path / "mimic3"
    folder.mkdir()
    with gzip.open(folder / "adult_icu.gz", "wt") as handle:
        pd.DataFrame({"age": [1, 2], "mort_icu": [0, 1]}).to_csv(handle, index=False)
    with pytest.raises(DataError, match="lacks the columns"):
        load("mimic3", data_dir=tmp_path, verify_rows=False)


def test_nan_features_are_reported_not_imputed(tmp_path):
    _write_year(tmp_path / "year", rows=300)
    path = tmp_path / "year" / "YearPredictionMSD.txt"
    lines = path.read_text().splitlines()
    lines[3] = ",".join(lines[3].split(",")[:5] + ["nan"] + lines[3].split(",")[6:])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="NaN or inf"):
        load("year", data_dir=tmp_path, verify_rows=False)
