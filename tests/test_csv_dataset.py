"""`dataset=csv`: the user's own file benchmarked by the harness with the paper's protocols, and every
bad file named with its fix before any work starts."""
from __future__ import annotations

import csv as csv_module

import numpy as np
import pandas as pd
import pytest

from mixnam.data import load
from mixnam.errors import DataError
from mixnam.report import main as report
from tests.test_sweeps import records, sweep


def shop(n_rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """A small purchase table: a numeric, a skewed numeric and a text column drive a yes/no label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.uniform(20, 80, n_rows), "income": rng.lognormal(10, 1, n_rows),
                          "city": rng.choice(["Paris", "Lyon", "Nice"], n_rows)})
    logit = (frame.age - 50) / 10 + 1.5 * (frame.city == "Paris") - 0.5
    frame["bought"] = np.where(rng.uniform(size=n_rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


def write(tmp_path, frame: pd.DataFrame, name: str = "shop.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def options(path: str, **extra) -> dict:
    return {"path": path, "target": "bought", "task": None, "categorical": [], "protocol": "kfold", **extra}


def test_mixnam_and_xgboost_run_on_a_users_csv_and_the_report_shows_them(tmp_path):
    path = write(tmp_path, shop())
    sweep(tmp_path, "model=mixnam,xgboost", "dataset=csv", f"dataset.path={path}", "dataset.target=bought",
          "split=0", "seed=0", "trainer.max_epochs=2")
    by_model = {r["model"]: r for r in records(tmp_path).values()}
    assert set(by_model) == {"mixnam", "xgboost"}
    for record in by_model.values():
        assert record["status"] == "completed" and record["dataset"] == "csv" and record["metric"] == "auc"
        assert record["config"]["dataset"]["path"] == path
        assert "stratified 5-fold" in record["data"]["split_source"]
    assert by_model["xgboost"]["metrics"]["test"]["auc"] > 0.7, "the label follows age and city"

    summary = report(["summary", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "tables")])
    rows = {row["model"]: row for row in csv_module.DictReader(summary.open())}
    assert set(rows) == {"mixnam", "xgboost"}
    for model, row in rows.items():
        assert row["dataset"] == "csv" and float(row["test"]) == by_model[model]["metrics"]["test"]["auc"]


def test_task_categoricals_and_positive_label_come_from_the_file(tmp_path):
    frame = shop()
    frame["store"] = np.arange(len(frame)) % 4  # a coded column, categorical on request
    data = load("csv", options=options(write(tmp_path, frame), categorical=["store"]))
    assert data.problem.task == "classification" and data.problem.metric == "auc"
    assert set(data.problem.categorical) == {"city", "store"}
    assert data.y.sum() == (frame.bought == "yes").sum(), "the larger sorted label ('yes') is the positive class"


def test_a_regression_target_gets_plain_folds_that_partition_the_rows(tmp_path):
    frame = shop().drop(columns="bought").assign(spend=lambda f: f.income / 100)
    path = write(tmp_path, frame)
    folds = [load("csv", split=k, options=options(path, target="spend")) for k in range(5)]
    assert folds[0].problem.task == "regression" and folds[0].problem.metric == "rmse"
    tests = np.concatenate([f.indices.test for f in folds])
    assert sorted(tests) == list(range(len(frame)))
    assert "KFold" in folds[0].indices.source and "stratified" not in folds[0].indices.source


def test_holdout_is_housings_70_10_20_split(tmp_path):
    data = load("csv", options=options(write(tmp_path, shop(1000)), protocol="holdout"))
    # the authors' two train_test_split calls, float rounding included (Housing: 14,447 / 2,065 / 4,128)
    assert (len(data.indices.train), len(data.indices.val), len(data.indices.test)) == (699, 101, 200)


@pytest.mark.parametrize("change,fragments", [
    (lambda f, p: f.to_csv(p, index=False, columns=["age", "city"]), ["no column 'bought'", "dataset.target="]),
    (lambda f, p: f.assign(bought="yes").to_csv(p, index=False), ["a single class", "two labels"]),
    (lambda f, p: f.head(20).to_csv(p, index=False), ["20 rows", "too few"]),
    (lambda f, p: f.assign(bought=np.where(np.arange(len(f)) < 3, "yes", "no")).to_csv(p, index=False),
     ["'yes' has 3 rows", "dataset.protocol=holdout"]),
    (lambda f, p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary"), ["not a CSV"]),
    (lambda f, p: p.write_text("age;city;bought\n1;Paris;yes\n"), ["not comma separated"]),
])
def test_a_bad_file_is_named_with_its_fix(tmp_path, change, fragments):
    path = tmp_path / "bad.csv"
    change(shop(), path)
    with pytest.raises(DataError) as error:
        load("csv", options=options(str(path)))
    for fragment in fragments:
        assert fragment in str(error.value)


def test_missing_path_or_target_says_which_keys_to_set(tmp_path):
    with pytest.raises(DataError, match="dataset.path=<file.csv> dataset.target=<column>"):
        load("csv", options=options(None))
    with pytest.raises(DataError, match="is not a file"):
        load("csv", options=options(str(tmp_path / "absent.csv")))
