"""Reports on hand-made records: exact means and stds, the paper beside each cell, the noise test,
bold best, missing cells with their reason, provenance, and the smoke label."""
from __future__ import annotations

import csv
import statistics

import pytest
from scipy import stats

from mixnam import report
from mixnam.reporting.paper import PaperValue, welch_p
from mixnam.reporting.records import write_json_atomic
from mixnam.reporting.tables import experiment_jobs

ENV = {"git_commit": "abc123", "hostname": "box", "cpu": "x86_64", "cpu_count": 2, "device": "cpu", "torch": "2.x"}


def write_record(runs, job, profile, value=None, error=None):
    config = {}
    for key, v in job.items():
        if "." in key:
            head, leaf = key.split(".", 1)
            config.setdefault(head, {})[leaf] = v
    record = {"experiment": job["experiment_name"], "profile": profile, "model": job["model"],
              "dataset": job["dataset"], "split": job["split"], "seed": job["seed"], "config": config, "env": ENV,
              "status": "failed" if error else "completed", "finished_at": "2026-01-01T00:00:00+00:00",
              "max_epochs": 7, "epochs_run": 7, "best_epoch": 5, "fit_seconds": 1.0,
              "data": {"n_train": 100, "n_val": 10, "n_test": 20}}
    if error:
        record["error"] = error
    else:
        record["metrics"] = {"val": {"rmse": value}, "test": {"rmse": value}}
    name = f"split{job['split']}-seed{job['seed']}-{abs(hash(str(sorted(job.items())) + profile)) % 10**8}.json"
    write_json_atomic(runs / job["experiment_name"] / job["dataset"] / job["model"] / name, record)


def rows(path):
    with open(path, newline="") as handle:
        return {(r["row"], r["column"]): r for r in csv.DictReader(handle)}


@pytest.fixture
def table2(tmp_path):
    """Table 2 with lambda = 0 and 0.1 complete (10 seeds), lambda = 1 diverged, the rest not run."""
    runs = tmp_path / "runs"
    values = {0: [0.45 + 0.001 * s for s in range(10)], 0.1: [0.44 + 0.002 * s for s in range(10)]}
    for job in experiment_jobs("table2", "paper"):
        lam = job["model.variation_penalty"]
        if lam in values:
            write_record(runs, job, "paper", value=values[lam][job["seed"]])
        elif lam == 1:
            write_record(runs, job, "paper", error="FloatingPointError: the model diverged: lower model.lr")
    report.main(["table2", "--runs", str(runs), "--out", str(tmp_path / "tables")])
    return tmp_path / "tables", values


def test_cells_hold_exact_means_stds_and_the_paper_beside_them(table2):
    out, values = table2
    cells = rows(out / "table2.csv")
    for lam, label in ((0, "λ = 0"), (0.1, "λ = 0.1")):
        cell = cells[(label, "Housing RMSE↓")]
        assert float(cell["mean"]) == pytest.approx(statistics.fmean(values[lam]), abs=1e-12)
        assert float(cell["std"]) == pytest.approx(statistics.stdev(values[lam]), abs=1e-12)
        assert (cell["n"], cell["expected"]) == ("10", "10")
    zero = cells[("λ = 0", "Housing RMSE↓")]
    assert (float(zero["paper_mean"]), float(zero["paper_std"]), zero["paper_n"]) == (0.451, 0.003, "10")
    assert float(zero["diff"]) == pytest.approx(statistics.fmean(values[0]) - 0.451)
    assert cells[("λ = 0.1", "Housing RMSE↓")]["best"] == "True" and zero["best"] == "False"
    assert cells[("λ = 0.01", "Housing RMSE↓")]["paper_mean"] == ""  # the paper prints no lambda = 0.01 value


def test_missing_cells_say_why_and_provenance_says_what_ran(table2):
    out, _ = table2
    md = (out / "table2.md").read_text()
    assert "| λ = 1 | — [" in md and "FloatingPointError: the model diverged" in md
    assert "not run (10 of 10 runs have no record)" in md
    assert "**0.449 ± 0.006** (10)" in md  # lambda = 0.1: mean 0.449, the best of the column
    assert "commit `abc123` (30 runs)" in md and "(folds 0 x seeds 0–9;" in md and "max_epochs 7, ran 7 epochs (best 5)" in md
    tex = (out / "table2.tex").read_text()
    assert r"\textbf{0.449 $\pm$ 0.006}" in tex and r"\toprule" in tex


def test_welch_test_is_scipys_without_rounding_and_tolerates_the_printed_digit():
    paper = PaperValue(0.451, 0.003, 10, 0.0, "0.451 ± 0.003")
    expected = stats.ttest_ind_from_stats(0.455, 0.004, 10, 0.451, 0.003, 10, equal_var=False).pvalue
    assert welch_p(0.455, 0.004, 10, paper) == pytest.approx(expected)
    deterministic = PaperValue.parse("0.735", "0.000", 10)
    assert welch_p(0.7352, 0.0, 10, deterministic) > 0.05 > welch_p(0.737, 0.0, 10, deterministic)
    assert welch_p(0.5, 0.01, 1, deterministic) is None


def test_smoke_records_make_a_table_labelled_smoke_and_paper_records_are_not_mixed_in(tmp_path):
    runs = tmp_path / "runs"
    for job in experiment_jobs("table1", "smoke", ("model=linear", "dataset=housing,mimic2")):
        if job["dataset"] == "housing":
            write_record(runs, job, "smoke", value=0.70 + 0.01 * job["seed"])
        else:
            write_record(runs, job, "smoke", error="DataError: mimic2: mimic2.data not found. MIMIC data are credentialed")
    paper_job = experiment_jobs("table1", "paper", ("model=linear", "dataset=housing"))[0]
    write_record(runs, paper_job, "paper", value=9.9)
    report.main(["table1", "profile=smoke", "--runs", str(runs), "--out", str(tmp_path / "tables")])
    md = (tmp_path / "tables" / "table1.md").read_text()
    assert md.count("**profile: smoke**") == 1 and "0.705 ± 0.007" in md and "9.9" not in md
    assert "MIMIC-II AUC↑ (Linear): failed (2/2): DataError: mimic2: mimic2.data not found" in md
    for model in ("MLP", "NODE", "NODE-GAM", "MixNAM"):  # every row and column of the paper, run or not
        assert f"| {model} |" in md
    assert all(r["profile"] == "smoke" for r in rows(tmp_path / "tables" / "table1.csv").values())


def test_the_records_summary_has_one_line_per_record_of_the_profile(table2):
    out, _ = table2
    runs = out.parent / "runs"
    report.main(["summary", "profile=paper", "--runs", str(runs), "--out", str(out)])
    lines = list(csv.DictReader(open(out / "runs_summary.csv")))
    assert len(lines) == 30 and {line["status"] for line in lines} == {"completed", "failed"}
    assert {line["model.variation_penalty"] for line in lines} == {"0", "0.1", "1"}
    report.main(["summary", "profile=smoke", "--runs", str(runs), "--out", str(out)])
    assert len(list(csv.DictReader(open(out / "runs_summary.csv")))) == 0


def test_a_cell_mixing_bf16_and_fp32_runs_says_so(tmp_path):
    runs = tmp_path / "runs"
    for job in experiment_jobs("table2", "paper"):
        if job["model.variation_penalty"] == 0:
            job = {**job, "trainer.precision": "bf16-mixed" if job["seed"] >= 5 else "32-true"}
            write_record(runs, job, "paper", value=0.45)
    report.main(["table2", "--runs", str(runs), "--out", str(tmp_path / "tables")])
    md = (tmp_path / "tables" / "table2.md").read_text()
    assert "Cells mixing precisions:** λ = 0 / Housing RMSE↓ (32-true x5, bf16-mixed x5)" in md
