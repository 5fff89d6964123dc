"""The issue-15 reports and the "find another explanation" loop, end to end on tiny runs."""
from __future__ import annotations

import numpy as np
import pytest

from mixnam.another_explanation import main as another_explanation
from mixnam.experiment import run
from mixnam.report import main as report
from mixnam.reporting.explanations import decoy_report
from mixnam.runs.records import write_json_atomic
from tests.test_baselines import config
from tests.test_models import single_thread  # noqa: F401 - autouse fixture

TINY = ("data.max_rows=600", "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "model.batch_size=128")


def test_interactions_report_puts_models_side_by_side_and_mixnam_d_reads_zero(tmp_path, mirror):
    for model in ("mixnam_d", "mixnam"):
        cfg = config(f"model={model}", "dataset=decoy", "experiment_name=interactions", "explain=true", *TINY,
                     "model.n_layers=2", "model.hidden_dim=16", runs_dir=tmp_path / "runs", mirror=mirror)
        assert run(cfg)["explain"]["interactions"]["method"] == "synergy"
    path = report(["interactions", "dataset=decoy", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path)])
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in path.read_text().splitlines()
            if line.startswith("| mixnam")}
    assert rows["mixnam_d"][3] == "0.0000" and float(rows["mixnam"][3]) > 0, rows
    assert "## Provenance" in path.read_text() and (tmp_path / "interactions.csv").is_file()


def fake_decoy_record(runs, model, seed, test, leak=True, constraint=None, decoy_gradient=0.5):
    record = {"experiment": "decoy", "profile": "paper", "status": "completed", "dataset": "decoy", "model": model,
              "run_id": f"{model}-{seed}-{leak}-{bool(constraint)}",
              "seed": seed, "metric": "rmse", "fit_seconds": 1.0, "max_epochs": 30, "data": {"n_train": 2800},
              "env": {"git_commit": "abc", "cpu": "x86_64", "cpu_count": 2, "device": "cpu"},
              "metrics": {"test": {"rmse": test}, "val": {"rmse": 0.1}},
              "interpretability": {"input_gradient_per_feature": {"x1": 0.5, "decoy": decoy_gradient}},
              "config": {"dataset": {"options": {"leak": leak}}, "trainer": {"precision": "32-true"},
                         "constraint": constraint or {"name": None}}}
    write_json_atomic(runs / model / f"{seed}-{leak}-{bool(constraint)}.json", record)


def test_decoy_report_states_each_condition_over_seeds_with_its_spread(tmp_path):
    runs = tmp_path / "runs"
    rrr = {"name": "rrr", "features": ["decoy"], "router_exclude": None}
    for seed in range(3):
        fake_decoy_record(runs, "mlp", seed, 0.3 + 0.01 * seed, leak=False, decoy_gradient=0.0)
        fake_decoy_record(runs, "mlp", seed, 1.0 + 0.1 * seed)
        fake_decoy_record(runs, "mlp", seed, 0.31, constraint=rrr, decoy_gradient=0.01)
    text, _ = decoy_report(runs)
    rows = {line.split(" | ")[1]: line.split(" | ") for line in text.splitlines() if line.startswith("| mlp")}
    assert rows["unconstrained"][3] == "1.100 ± 0.100 (1.000–1.200)"
    assert rows["unconstrained"][5] == "0.790 ± 0.100 (0.690–0.890)" and rows["reference (no leak)"][2] == "3"
    assert rows["rrr on decoy"][5] == "0.000 ± 0.000 (0.000–0.000)"
    assert rows["rrr on decoy"][7].startswith("0.020")  # 0.01 / (0.5 + 0.01)
    assert "records: 9 completed runs" in text


def test_find_another_explanation_constrains_the_most_used_feature_and_retrains(tmp_path, mirror):
    path = another_explanation(["--rounds", "2", "--out", str(tmp_path), "model=nam", "dataset=decoy",
                                "model.hidden_dims=[8]", *TINY, f"paths.runs_dir={tmp_path / 'runs'}",
                                f"data.mirror={mirror}"])
    rows = [line.split(" | ") for line in path.read_text().splitlines() if line.startswith("| ")][1:]
    first_top = rows[0][3].split(" ")[0]
    assert rows[0][1] == "—" and rows[1][1] == first_top, rows
    shape_r = dict(item.rsplit(" ", 1) for item in rows[1][4].rstrip(" |").split(", "))
    assert set(shape_r) == {"x1", "x2", "x3", "x4", "decoy"} and np.isfinite(float(shape_r["x1"]))


@pytest.mark.parametrize("overrides,message", [
    (["model=mlp", "dataset=nope"], "unknown dataset 'nope'"),
    (["model=xgboost", "dataset=decoy"], "model=xgboost has no input gradients to constrain"),
    (["model=mlp", "dataset=decoy", "constraint.router_exclude=[x1]"], "needs a router"),
])
def test_find_another_explanation_refuses_bad_runs_in_one_line_before_training(tmp_path, mirror, capsys,
                                                                                overrides, message):
    with pytest.raises(SystemExit) as stopped:
        another_explanation(["--out", str(tmp_path), *overrides, f"paths.runs_dir={tmp_path / 'runs'}",
                             f"data.mirror={mirror}"])
    assert stopped.value.code == 2 and message in capsys.readouterr().err
    records = [p.read_text() for p in (tmp_path / "runs").rglob("*.json")] if (tmp_path / "runs").exists() else []
    assert not any('"completed"' in r for r in records), "nothing trained"


def test_find_another_explanation_writes_a_smoke_budgets_table_in_the_profiles_folder(tmp_path, mirror, monkeypatch):
    import mixnam.another_explanation

    monkeypatch.setattr(mixnam.another_explanation, "ROOT", tmp_path)
    path = another_explanation(["--rounds", "1", "profile=smoke", "model=nam", "dataset=decoy", "model.hidden_dims=[8]",
                                *TINY, f"data.mirror={mirror}"])
    assert path.parent == tmp_path / "results" / "tables" / "smoke"


def test_an_interactions_report_of_an_unknown_dataset_is_an_error_not_an_empty_table(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        report(["interactions", "dataset=nope", "--runs", str(tmp_path), "--out", str(tmp_path)])
    assert stopped.value.code == 2 and "unknown dataset 'nope'" in capsys.readouterr().err
