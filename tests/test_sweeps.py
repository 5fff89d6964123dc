"""Sweeps that survive: every experiment config composes, jobs follow each dataset's protocol, the
joblib and submitit launchers run them in real subprocesses, reruns skip finished work, a failed run
is recorded and the sweep goes on, and the Slurm launcher asks for what docs/slurm.md says.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mixnam.reporting.tables import experiment_jobs
from mixnam.sweeps import CONF_DIR, expand, product
from tests.conftest import ROOT

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def sweep(tmp_path, *overrides, mirror=None):
    """`run.py -m` as a user types it, with records and Hydra's outputs under tmp_path."""
    args = [sys.executable, str(ROOT / "run.py"), "-m", f"paths.runs_dir={tmp_path / 'runs'}",
            f"hydra.sweep.dir={tmp_path / 'multirun'}", *([f"data.mirror={mirror}"] if mirror else []), *overrides]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def records(tmp_path) -> dict[str, dict]:
    return {str(p.relative_to(tmp_path / "runs")): json.loads(p.read_text())
            for p in sorted((tmp_path / "runs").rglob("*.json"))}


def mtimes(tmp_path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.json")}


# ------------------------------------------------------------------------------------------ composition
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_config_composes_every_job(experiment):
    """No sweep config rots: each job of each experiment (paper profile) composes and resolves its model."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        base = [f"experiment={experiment}"]
        sweeper = compose("config", base, return_hydra_config=True).hydra.sweeper
        if "cells" in sweeper:  # the protocol sweeper: the jobs as it launches them, one per (cell, dataset)
            jobs = {tuple(o for o in job if not o.startswith(("split=", "seed="))): job
                    for job in expand(product(dict(sweeper.params or {})), sweeper.cells or [],
                                      lambda job: compose("config", base + job))}
            assert jobs, experiment
        else:  # optuna: every parameter at the first value of its range
            from hydra.core.override_parser.overrides_parser import OverridesParser

            parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in sweeper.params.items()])
            jobs = {(): [f"{o.key_or_group}={next(iter(o.sweep_iterator())) if o.is_discrete_sweep() else o.value().start}"
                         for o in parsed]}
        for job in jobs.values():
            cfg = compose("config", base + list(job))
            OmegaConf.to_container(cfg.model, resolve=True)
            assert cfg.model.name and cfg.dataset.name and cfg.profile == "paper"


def test_jobs_follow_each_datasets_protocol_and_the_smoke_profile_caps_them():
    paper = experiment_jobs("table1", "paper", ("model=mixnam", "dataset=housing,income"))
    assert sorted((j["dataset"], j["split"], j["seed"]) for j in paper) == sorted(
        [("housing", 0, s) for s in range(10)] + [("income", k, 0) for k in range(5)])
    smoke = experiment_jobs("table1", "smoke", ("model=mixnam", "dataset=housing,income"))
    assert sorted((j["dataset"], j["split"], j["seed"]) for j in smoke) == [
        ("housing", 0, 0), ("housing", 0, 1), ("income", 0, 0), ("income", 1, 0)]
    assert experiment_jobs("table1", "paper", ("model=nam", "dataset=income", "split=3"))[0]["split"] == 3


def test_cells_make_grids_that_are_not_one_product_and_the_command_line_selects_among_them():
    grid = {(j["model"], j["model.top_k"], j["model.n_experts"]) for j in experiment_jobs("table8", "smoke")}
    assert len(grid) == 10 + 16 and all(k <= c for _, k, c in grid)  # Table 8: MixNAM K <= C, MixNAM-E 4 x 4
    only_e = {j["model"] for j in experiment_jobs("table8", "smoke", ("model=mixnam_e",))}
    assert only_e == {"mixnam_e"}
    table3 = {(j["experiment_name"], j["model"]) for j in experiment_jobs("table3", "smoke")}
    assert table3 == {("table1", "mlp"), ("table1", "na2m"), ("table1", "nam"), ("table2", "mixnam"), ("table1", "mixnam")}


@pytest.mark.parametrize("table, cell, overrides", [
    ("table2", {"model.variation_penalty": 0.1}, ["model.variation_penalty=0.1"]),
    ("table3", {"model.variation_penalty": 0.1}, ["model.variation_penalty=0.1"]),
    ("table8", {"model.n_experts": 4, "model.top_k": 4}, ["model.n_experts=4", "model.top_k=4"]),
])
def test_a_cell_that_is_table_1s_mixnam_is_table_1s_run_not_a_second_one(table, cell, overrides):
    """Table 5 sets lambda = 0.1 and (K, C) = (4, 4), so Table 1's MixNAM runs are those cells: the same run ids, run once."""
    from mixnam.runs.records import run_id
    from tests.test_training import config

    jobs = [j for j in experiment_jobs(table, "paper") if j["model"] == "mixnam"
            and all(j.get(k) == v for k, v in cell.items())]
    assert len(jobs) == 10 and {j["experiment_name"] for j in jobs} == {"table1"}
    table1 = config("experiment=table1", "model=mixnam", "dataset=housing", "seed=3", "paths.root=/checkout")
    same = config(f"experiment={table}", "model=mixnam", "dataset=housing", "seed=3", *overrides,
                  "experiment_name=table1", "paths.root=/checkout")
    assert run_id(table1) == run_id(same)


def test_slurm_launcher_asks_for_partition_gpus_time_and_requeue():
    """The Slurm path short of a cluster: the sbatch script submitit would submit for our launcher config."""
    from submitit.slurm.slurm import _make_sbatch_string

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", ["experiment=table1", "hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                                 "hydra.launcher.timeout_min=90"], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert launcher["_target_"].endswith("SlurmLauncher") and launcher["max_num_timeout"] >= 1
    script = _make_sbatch_string(command="python run.py", folder="/tmp/x", partition=launcher["partition"],
                                 time=launcher["timeout_min"], gpus_per_node=launcher["gpus_per_node"],
                                 cpus_per_task=launcher["cpus_per_task"],
                                 additional_parameters=launcher["additional_parameters"])
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --gpus-per-node=1", "#SBATCH --requeue"):
        assert line in script


# ------------------------------------------------------------------------------------------- launching
SMOKE = ("experiment=table1", "profile=smoke", "model=linear,nam", "dataset=income", "data.max_rows=1500")


@pytest.mark.parametrize("launcher", ["hydra/launcher=local", "hydra/launcher=submitit_local"])
def test_two_models_by_two_folds_through_a_parallel_launcher(tmp_path, mirror, launcher):
    sweep(tmp_path, *SMOKE, launcher, mirror=mirror)
    runs = records(tmp_path)
    assert sorted((r["model"], r["split"]) for r in runs.values()) == [
        ("linear", 0), ("linear", 1), ("nam", 0), ("nam", 1)]
    assert all(r["status"] == "completed" and r["profile"] == "smoke" and r["experiment"] == "table1"
               and 0.5 < r["metrics"]["test"]["auc"] <= 1 for r in runs.values())
    if "submitit" in launcher:  # submitit's executor ran each job as its own process and pickled its result
        assert len(list((tmp_path / "multirun" / ".submitit").glob("*/*_result.pkl"))) == 4


def test_a_rerun_skips_finished_runs_and_redoes_only_a_deleted_one(tmp_path, mirror):
    sweep(tmp_path, *SMOKE, mirror=mirror)
    before = mtimes(tmp_path)
    assert len(before) == 4
    log = sweep(tmp_path, *SMOKE, mirror=mirror)  # the sweeper drops finished jobs: no launcher sees them
    assert "4 of 4 jobs have a completed record" in log and "launching 0" in log and mtimes(tmp_path) == before
    deleted = sorted(before)[0]
    os.remove(deleted)
    log = sweep(tmp_path, *SMOKE, mirror=mirror)
    after = mtimes(tmp_path)
    assert "3 of 4 jobs" in log and "launching 1" in log and set(after) == set(before)
    assert [p for p in after if after[p] != before.get(p)] == [deleted]
    log = sweep(tmp_path, *SMOKE[:2], "model=linear", *SMOKE[3:], "force=true", mirror=mirror)
    forced = mtimes(tmp_path)
    assert "launching 2" in log and sorted(p for p in forced if forced[p] != after[p]) == sorted(
        p for p in after if "/linear/" in p)


def test_a_failing_run_leaves_a_failed_record_and_the_sweep_goes_on(tmp_path, mirror):
    """MIMIC-II cannot be fetched (credentialed): its runs fail with the reason, Income's still run."""
    sweep(tmp_path, "experiment=table1", "profile=smoke", "model=linear", "dataset=mimic2,income",
          "data.max_rows=1500", f"paths.data_dir={tmp_path / 'no-mimic'}", mirror=mirror)
    by_dataset = {}
    for r in records(tmp_path).values():
        by_dataset.setdefault(r["dataset"], []).append(r)
    assert [r["status"] for r in by_dataset["mimic2"]] == ["failed", "failed"]
    assert all("mimic2.data" in r["error"] and "physionet" in r["error"].lower() for r in by_dataset["mimic2"])
    assert [r["status"] for r in by_dataset["income"]] == ["completed", "completed"]


def test_hyperparameter_search_saves_its_best_trial_as_a_tuned_config(tmp_path, mirror):
    sweep(tmp_path, "experiment=hparam_search", "dataset=housing", "profile=smoke", "data.max_rows=1500",
          "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1", mirror=mirror)
    trials = records(tmp_path)
    assert len(trials) == 2 and {r["experiment"] for r in trials.values()} == {"hparam_search"}
    saved = subprocess.run([sys.executable, str(ROOT / "scripts" / "save_tuned.py"), str(tmp_path / "multirun"),
                            "--out", str(tmp_path / "tuned")], capture_output=True, text=True, check=True)
    tuned = OmegaConf.load(tmp_path / "tuned" / "mixnam" / "housing.yaml")
    best = min(trials.values(), key=lambda r: r["metrics"]["val"]["rmse"])
    assert "wrote" in saved.stdout and tuned.model.lr == pytest.approx(best["config"]["model"]["lr"])
    assert (tmp_path / "tuned" / "mixnam" / "housing.yaml").read_text().startswith("# @package _global_")
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "save_tuned.py"), str(tmp_path / "multirun"),
                            "--out", str(tmp_path / "tuned")], capture_output=True, text=True)
    assert again.returncode != 0 and "--force" in again.stderr
