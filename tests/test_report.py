"""Reports on hand-made records: exact means and stds, the paper beside each cell, verdicts by
equivalence (never "reproduced" for want of evidence), the paper's claims as checks, bold best,
missing cells with their reason, provenance, and the smoke label."""
from __future__ import annotations

import csv
import math
import shutil
import statistics

import pytest
from scipy import stats

from mixnam import report
from mixnam.reporting.claims import CLAIMS, check
from mixnam.reporting.paper import PaperValue
from mixnam.reporting.render import scorecard
from mixnam.reporting.tables import build, experiment_jobs
from mixnam.reporting.verdicts import Rule, judge
from mixnam.runs.records import write_json_atomic
from tests.conftest import ROOT

ENV = {"git_commit": "abc123", "hostname": "box", "cpu": "x86_64", "cpu_count": 2, "device": "cpu", "torch": "2.x"}


def write_record(runs, job, profile, value=None, error=None, budget=None, metric="rmse", fit_seconds=1.0):
    """A record of `job`; `budget`: the paper's epochs (config.model.max_epochs) where the run did 7."""
    config = {"model": {"max_epochs": budget}} if budget else {}
    for key, v in job.items():
        if "." in key:
            head, leaf = key.split(".", 1)
            config.setdefault(head, {})[leaf] = v
    record = {"experiment": job["experiment_name"], "profile": profile, "model": job["model"],
              "dataset": job["dataset"], "split": job["split"], "seed": job["seed"], "config": config, "env": ENV,
              "status": "failed" if error else "completed", "finished_at": "2026-01-01T00:00:00+00:00",
              "max_epochs": 7, "epochs_run": 7, "best_epoch": 5, "fit_seconds": fit_seconds,
              "data": {"n_train": 100, "n_val": 10, "n_test": 20}}
    if "fidelity" in job:
        record["fidelity"] = job["fidelity"]
    if error:
        record["error"] = error
    else:
        record["metrics"] = {"val": {metric: value}, "test": {metric: value}}
    record["run_id"] = f"{abs(hash(str(sorted(job.items())) + profile)) % 10**8}"  # one per job, as real records
    name = f"split{job['split']}-seed{job['seed']}-{record['run_id']}.json"
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


def test_a_fit_time_total_says_how_many_runs_it_does_not_count(tmp_path):
    runs = tmp_path / "runs"
    jobs = [job for job in experiment_jobs("table2", "paper") if job["model.variation_penalty"] == 0][:3]
    for i, job in enumerate(jobs):  # the first was resumed from a checkpoint that did not keep its seconds
        write_record(runs, job, "paper", value=0.45, fit_seconds=None if i == 0 else 3600.0)
    report.main(["table2", "--runs", str(runs), "--out", str(tmp_path / "tables")])
    md = (tmp_path / "tables" / "table2.md").read_text()
    assert "- Fit time: 2.00 h in total (1 run not counted: resumed from a checkpoint that did not keep its fit " \
           "time)." in md


def test_the_interval_is_welchs_and_a_deterministic_model_matching_the_printed_digit_is_reproduced():
    paper = PaperValue(0.451, 0.003, 10, 0.0, "0.451 ± 0.003")
    ours = [0.455 + 0.004 * z for z in (-1.5, -0.5, 0.5, 1.5)]
    expected = stats.ttest_ind_from_stats(statistics.fmean(ours), statistics.stdev(ours), 4, 0.451, 0.003, 10,
                                          equal_var=False).pvalue
    assert judge(ours, paper, Rule()).p_value == pytest.approx(expected)
    deterministic = PaperValue.parse("0.735", "0.000", 10)
    assert judge([0.7352, 0.7352], deterministic, Rule()).label == "reproduced"
    assert judge([0.745, 0.745], deterministic, Rule()).label == "differs"


def test_each_verdict_rule():
    paper = PaperValue.parse("0.451", "0.003", 10)  # margin max(2 x 0.003, 0.001, 0.5% x 0.451) = 0.006
    assert Rule().margin(paper) == pytest.approx(0.006)
    close = judge([0.450, 0.452, 0.451, 0.4515], paper, Rule())
    assert close.label == "reproduced" and -0.006 < close.ci[0] < close.ci[1] < 0.006
    far = [0.470, 0.471, 0.469]
    assert (judge(far, paper, Rule()).label, judge(far, paper, Rule()).reason) == ("differs", "CI outside the margin")
    assert judge(far, paper, Rule(relative_floor=0.05)).label == "reproduced", "the margin is a report option"
    # Δ = 0.009 > m and significant, but the interval still reaches inside the margin
    edge = judge([0.454, 0.466, 0.457, 0.463], paper, Rule())
    assert edge.ci[0] < 0.006 < abs(edge.diff)
    assert (edge.label, edge.reason) == ("differs", "significant and |Δ| > margin")
    wide = judge([0.40, 0.52], paper, Rule())  # 2 runs, wide std: no evidence either way
    assert wide.label == "inconclusive" and f"≈ {wide.runs_to_decide} more runs" in wide.reason
    assert judge([0.451], paper, Rule()).label == "n < 2"
    assert judge([0.451, 0.451], paper, Rule(), reduced="profile reduced").label == "reduced budget"


@pytest.fixture
def verdicts(tmp_path):
    """Table 2 with one cell per verdict: λ = 0 reproduced, 0.1 differs, 1 two wide runs, 10 one run, 100 reduced."""
    runs = tmp_path / "runs"
    for job in experiment_jobs("table2", "paper"):
        lam, seed = job["model.variation_penalty"], job["seed"]
        if lam == 0:
            write_record(runs, job, "paper", value=0.451 + 0.0005 * (seed - 4.5))
        elif lam == 0.1:
            write_record(runs, job, "paper", value=0.470 + 0.001 * (seed - 4.5))
        elif lam == 1 and seed < 2:
            write_record(runs, job, "paper", value=(0.45, 0.47)[seed])
        elif lam == 10 and seed == 0:
            write_record(runs, job, "paper", value=0.515)
        elif lam == 100:
            write_record(runs, job, "paper", value=0.582, budget=1000)
    report.main(["table2", "--runs", str(runs), "--out", str(tmp_path / "tables")])
    return tmp_path / "tables"


def test_every_cell_gets_its_verdict_and_a_wide_two_run_cell_is_inconclusive_not_reproduced(verdicts):
    cells = {row: cell for (row, _), cell in rows(verdicts / "table2.csv").items()}
    assert {row: cells[row]["verdict"] for row in cells} == {
        "λ = 0": "reproduced", "λ = 0.01": "", "λ = 0.1": "differs", "λ = 1": "inconclusive", "λ = 10": "n < 2",
        "λ = 100": "reduced budget"}
    assert float(cells["λ = 0"]["ci_low"]) < float(cells["λ = 0"]["diff"]) < float(cells["λ = 0"]["ci_high"])
    assert int(cells["λ = 1"]["runs_to_decide"]) > 0 and cells["λ = 100"]["verdict_reason"] == "max_epochs 7 < 1000"
    md = (verdicts / "table2.md").read_text()
    assert "✓ reproduced" in md and "✗ differs: CI outside the margin" in md and "? inconclusive: ≈" in md
    assert "⊘ reduced budget" in md and "· n < 2" in md and "90% confidence interval" in md
    assert "- Cells with a paper value: 1 reproduced, 1 differs, 1 inconclusive, 1 reduced budget, 1 n < 2." in md
    assert "RMSE at λ = 100 − at λ = 1" in md  # the claim resting on this table, with its effect
    assert r"$\oslash$ reduced budget" in (verdicts / "table2.tex").read_text()


def test_reduced_profile_cells_never_get_a_reproduction_verdict(tmp_path):
    runs = tmp_path / "runs"
    for job in experiment_jobs("table2", "reduced"):
        write_record(runs, job, "reduced", value=0.451 + 0.0005 * job["seed"])
    report.main(["table2", "profile=reduced", "--runs", str(runs), "--out", str(tmp_path / "tables")])
    verdicts = {r["verdict"] for r in rows(tmp_path / "tables" / "table2.csv").values()}
    assert verdicts == {"reduced budget", ""}  # "": λ = 0.01 has no paper value


def test_the_paper_claims_are_checks_with_an_effect_and_its_interval(tmp_path):
    runs = tmp_path / "runs"
    overrides = ("model=mixnam,nam", "dataset=housing")
    for job in experiment_jobs("table1", "paper", overrides):
        centre = 0.451 if job["model"] == "mixnam" else 0.572
        write_record(runs, job, "paper", value=centre + 0.002 * (job["seed"] - 4.5))
    table = build("table1", runs, "paper", overrides)
    claims = {c.text: c for c in CLAIMS}
    housing = check(claims["MixNAM beats NAM on Housing"], table)
    (effect,) = housing.effects
    assert housing.verdict == "holds" and effect.effect == pytest.approx(0.121)
    assert 0 < effect.ci[0] < 0.121 < effect.ci[1]
    every = check(claims["MixNAM beats NAM on every dataset it ran"], table)  # only Housing ran: never a bare "holds"
    assert every.label == "holds" and every.verdict == "holds on 1 of 6 datasets (5 not run)"
    for job in experiment_jobs("table1", "paper", ("model=nam", "dataset=housing")):  # now NAM is the better one
        write_record(runs, job, "paper", value=0.30 + 0.002 * job["seed"])
    assert check(claims["MixNAM beats NAM on Housing"], build("table1", runs, "paper", overrides)).verdict == "fails"
    md = scorecard([table], "test")
    assert "| table1 | 2 reproduced |" in md and "**MixNAM beats NAM on Housing** (table1): **holds**" in md


def test_a_comparison_over_the_same_folds_is_paired_so_a_hard_fold_does_not_hide_a_consistent_gain(tmp_path):
    """Income's folds differ by 0.01 AUC for every model; MixNAM's +0.004 on each fold is a gain, not noise."""
    runs = tmp_path / "runs"
    overrides = ("model=mixnam,nam", "dataset=income")
    fold_level = [0.928, 0.927, 0.925, 0.915, 0.921]
    gain = [0.0040, 0.0051, 0.0039, 0.0041]  # MixNAM ran folds 0-3 only
    for job in experiment_jobs("table1", "paper", overrides):
        fold = job["split"]
        if job["model"] == "nam":
            write_record(runs, job, "paper", value=fold_level[fold], metric="auc")
        elif fold < len(gain):
            write_record(runs, job, "paper", value=fold_level[fold] + gain[fold], metric="auc")
    claim = {c.text: c for c in CLAIMS}["MixNAM beats NAM on every dataset it ran"]
    (effect,) = [e for e in check(claim, build("table1", runs, "paper", overrides)).effects if e.verdict != "not run"]
    assert effect.paired == 4 and effect.effect == pytest.approx(statistics.fmean(gain))  # fold 4: NAM's alone
    half = stats.t.ppf(0.95, 3) * math.sqrt((1 / 4 + 20 / 110) * statistics.variance(gain))  # n_test / n_train+val
    assert effect.ci == pytest.approx((effect.effect - half, effect.effect + half)) and effect.verdict == "holds"
    unpaired = statistics.fmean(fold_level[f] + g for f, g in enumerate(gain)) - statistics.fmean(fold_level)
    assert unpaired != pytest.approx(effect.effect)  # Welch over the runs would compare different folds
    md = scorecard([build("table1", runs, "paper", overrides)], "test")
    assert "MixNAM − NAM, Income AUC↑ = +0.004 [" in md and "(paired over 4 folds; 4 vs 5 runs): holds" in md


def test_mixnam_beating_the_additive_models_with_feature_attribution_is_checked_against_each_one_run(tmp_path):
    """Table 1's caption; the GA2Ms and black boxes (EB2M, XGBoost) are not part of the claim."""
    runs = tmp_path / "runs"
    overrides = ("model=mixnam,nam,linear,eb2m,ebm", "dataset=housing")
    centres = {"mixnam": 0.451, "nam": 0.572, "linear": 0.735, "eb2m": 0.40, "ebm": 0.559}
    for job in experiment_jobs("table1", "paper", overrides):
        write_record(runs, job, "paper", value=centres[job["model"]] + 0.002 * (job["seed"] - 4.5))
    claim = {c.text: c for c in CLAIMS}["MixNAM beats every additive model with feature attribution (FA)"]
    result = check(claim, build("table1", runs, "paper", overrides))
    ran = {e.comparison.label: e for e in result.effects if e.verdict != "not run"}
    assert result.verdict == "holds on 3 of 36 model × dataset pairs (33 not run)"
    assert sorted(ran) == ["EBM − MixNAM, Housing RMSE↓", "Linear − MixNAM, Housing RMSE↓", "NAM − MixNAM, Housing RMSE↓"]
    assert ran["EBM − MixNAM, Housing RMSE↓"].effect == pytest.approx(0.108)
    md = scorecard([build("table1", runs, "paper", overrides)], "test")
    assert md.count("  - not run: ") == 2 and "Spline − MixNAM, Housing RMSE↓; NBM − MixNAM" in md  # one line per claim
    for job in experiment_jobs("table1", "paper", ("model=ebm", "dataset=housing")):  # an EBM better than MixNAM
        write_record(runs, job, "paper", value=0.30 + 0.002 * job["seed"])
    assert check(claim, build("table1", runs, "paper", overrides)).label == "fails"


def test_a_table_reads_the_records_of_its_fidelity_only(tmp_path):
    runs = tmp_path / "runs"
    for fidelity, value in (("paper", 0.45), ("code", 0.50)):
        for job in experiment_jobs("table2", "paper", (f"fidelity={fidelity}",)):
            write_record(runs, job, "paper", value=value)
    for fidelity, value in (("paper", 0.45), ("code", 0.50)):
        table = build("table2", runs, "paper", (f"fidelity={fidelity}",))
        assert table.cell("λ = 0", "Housing RMSE↓").values == [value] * 10
    assert build("table2", runs, "paper").cell("λ = 0", "Housing RMSE↓").mean == 0.45, "the default is the paper"


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


def test_a_sweep_written_under_another_results_dir_is_reported_there(tmp_path):
    """`make reproduce-table1 ARGS="paths.results_dir=X"`: the report reads X/runs and writes X/tables/<profile>."""
    results = tmp_path / "elsewhere"
    for job in experiment_jobs("table1", "smoke", ("model=linear", "dataset=housing")):
        write_record(results / "runs", job, "smoke", value=0.70)
    written = report.main(["table1", "profile=smoke", "dataset=housing", f"paths.results_dir={results}"])
    assert written == results / "tables" / "smoke" / "table1.md" and "0.700" in written.read_text()
    assert "by `python -m mixnam.report table1 profile=smoke dataset=housing`" in written.read_text()  # not where


def test_the_records_summary_has_one_line_per_record_of_the_profile(table2):
    out, _ = table2
    runs = out.parent / "runs"
    report.main(["summary", "profile=paper", "--runs", str(runs), "--out", str(out)])
    lines = list(csv.DictReader(open(out / "runs_summary.csv")))
    assert len(lines) == 30 and {line["status"] for line in lines} == {"completed", "failed"}
    assert {line["model.variation_penalty"] for line in lines} == {"0", "0.1", "1"}
    before = (out / "runs_summary.csv").read_bytes()
    with pytest.raises(SystemExit):  # no smoke records: nothing to list, even with --force
        report.main(["summary", "profile=smoke", "--runs", str(runs), "--out", str(out), "--force"])
    assert (out / "runs_summary.csv").read_bytes() == before


def test_a_cell_mixing_bf16_and_fp32_runs_says_so(tmp_path):
    runs = tmp_path / "runs"
    for job in experiment_jobs("table2", "paper"):
        if job["model.variation_penalty"] == 0:
            job = {**job, "trainer.precision": "bf16-mixed" if job["seed"] >= 5 else "32-true"}
            write_record(runs, job, "paper", value=0.45)
    report.main(["table2", "--runs", str(runs), "--out", str(tmp_path / "tables")])
    md = (tmp_path / "tables" / "table2.md").read_text()
    assert "Cells mixing precisions:** λ = 0 / Housing RMSE↓ (32-true x5, bf16-mixed x5)" in md


# ------------------------------------------------------------------- claims over several cells say how much ran
def _scorecard_files(out):
    claims = {r["name"]: r for r in csv.DictReader(open(out / "scorecard.csv")) if r["kind"] == "claim"}
    return (out / "scorecard.md").read_text(), (out / "scorecard.tex").read_text(), claims


def test_a_claim_over_several_cells_says_how_much_of_it_ran_in_every_scorecard(tmp_path):
    """"RMSE rises with λ above 1" compares λ = 10 and λ = 100 with λ = 1: with λ = 100 not run it holds on 1 of 2
    λ values, never a bare "holds", in the Markdown, LaTeX and CSV scorecards and the table's own scorecard."""
    runs, out = tmp_path / "runs", tmp_path / "tables"
    centres = {1: 0.45, 10: 0.47, 100: 0.50}
    for job in experiment_jobs("table2", "paper"):
        if job["model.variation_penalty"] in (1, 10):
            write_record(runs, job, "paper", value=centres[job["model.variation_penalty"]] + 0.001 * job["seed"])
    report.main(["scorecard", "--runs", str(runs), "--out", str(out)])
    report.main(["table2", "--runs", str(runs), "--out", str(out)])
    md, tex, claims = _scorecard_files(out)
    partial = "holds on 1 of 2 λ values (1 not run)"
    assert f"- **RMSE rises with λ above 1** (table2): **{partial}**" in md
    assert f"- **RMSE rises with λ above 1** (table2): **{partial}**" in (out / "table2.md").read_text()
    assert r"table2 & RMSE rises with $\lambda$ above 1 & holds on 1 of 2 $\lambda$ values (1 not run) \\" in tex
    row = claims["RMSE rises with λ above 1"]
    assert (row["verdict"], row["run"], row["of"]) == (partial, "1", "2")
    assert claims["more experts help up to C = 8"]["verdict"] == "not run"  # nothing of it ran: no coverage to state
    for job in experiment_jobs("table2", "paper"):  # now every λ it names ran: a bare "holds"
        if job["model.variation_penalty"] == 100:
            write_record(runs, job, "paper", value=centres[100] + 0.001 * job["seed"])
    report.main(["scorecard", "--runs", str(runs), "--out", str(out)])
    md, tex, claims = _scorecard_files(out)
    assert "- **RMSE rises with λ above 1** (table2): **holds**\n" in md
    assert claims["RMSE rises with λ above 1"]["verdict"] == "holds" and claims["RMSE rises with λ above 1"]["run"] == "2"


# ------------------------------------------------------- a report never destroys what is committed (issue 22)
def _committed_copy(tmp_path):
    """The committed paper tables copied where a report can be pointed at them, and their bytes."""
    out = tmp_path / "tables"
    out.mkdir()
    for path in (ROOT / "results" / "tables").iterdir():
        if path.is_file():
            shutil.copy(path, out / path.name)
    return out, {p.name: p.read_bytes() for p in out.iterdir()}


def test_a_scorecard_from_an_empty_runs_directory_exits_non_zero_and_the_committed_one_stays_byte_for_byte(
        tmp_path, capsys):
    """The issue's case: `python -m mixnam.report scorecard --runs <empty dir>` once replaced the committed scorecard
    with one reading "no runs" everywhere, and exited 0."""
    out, before = _committed_copy(tmp_path)
    assert {"scorecard.md", "scorecard.csv", "scorecard.tex"} <= set(before)
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit) as exit:
        report.main(["scorecard", "--runs", str(tmp_path / "runs"), "--out", str(out)])
    assert exit.value.code != 0
    assert "no records for `scorecard` were found under" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_scorecard_with_fewer_filled_cells_replaces_the_committed_one_only_with_force(tmp_path, capsys):
    out, before = _committed_copy(tmp_path)
    runs = tmp_path / "runs"
    for job in experiment_jobs("table2", "paper"):  # some records, far fewer than the committed scorecard's
        if job["model.variation_penalty"] == 1:
            write_record(runs, job, "paper", value=0.45 + 0.001 * job["seed"])
    arguments = ["scorecard", "--runs", str(runs), "--records", "none", "--out", str(out)]
    with pytest.raises(SystemExit):
        report.main(arguments)
    error = capsys.readouterr().err
    committed = report.filled_cells(before["scorecard.csv"].decode())
    assert f"holds {committed} filled cells and this report would have only 2:" in error, error  # λ = 1: Tables 2, 3
    assert "pass --force to replace it" in error
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    report.main([*arguments, "--force"])
    assert (out / "scorecard.csv").read_bytes() != before["scorecard.csv"]


@pytest.mark.parametrize("name", ["table1", "table2", "table3", "table8", "scorecard", "summary", "interactions",
                                  "decoy"])
def test_every_report_that_finds_no_records_says_so_and_writes_nothing_even_with_force(tmp_path, capsys, name):
    out, before = _committed_copy(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit) as exit:
        report.main([name, "--runs", str(tmp_path / "runs"), "--records", "none", "--out", str(out), "--force"])
    assert exit.value.code != 0
    assert f"no records for `{name if name != 'summary' else 'runs_summary'}` were found under" in \
        capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
