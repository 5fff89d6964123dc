"""A harness that never loses a finished run, tested by doing the damage for real.

A sweep is killed with SIGKILL in the middle and rerun; a training run crashes after a checkpoint and
is resumed; a record is torn in half; a model diverges inside a sweep; the same run is repeated. The
other faults (truncated or corrupt data files, missing columns, NaN features, unknown names, wrong
types, a GPU that is not there) are tested where their code lives: test_data.py and test_run.py.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from mixnam.data import load
from mixnam.experiment import run
from mixnam.runs.records import is_completed, record_path, write_json_atomic
from mixnam.training.lightning import BestCheckpoint, build
from tests.conftest import ROOT
from tests.test_baselines import config as run_config
from tests.test_models import single_thread  # noqa: F401 - autouse fixture
from tests.test_training import config as training_config

QUICK_NAM = ("model=nam", "dataset=housing", "data.max_rows=2000", "model.hidden_dims=[8]", "trainer.max_epochs=3",
             "trainer.enable_progress_bar=false", "trainer.num_threads=1")


def run_py_command(tmp_path, *overrides, mirror=None) -> list[str]:
    return [sys.executable, str(ROOT / "run.py"), *overrides, f"paths.runs_dir={tmp_path / 'runs'}",
            f"hydra.sweep.dir={tmp_path / 'multirun'}", *([f"data.mirror={mirror}"] if mirror else [])]


def record_files(tmp_path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted((tmp_path / "runs").rglob("*.json"))}


def completed(files: dict[str, bytes]) -> dict[str, bytes]:
    return {path: content for path, content in files.items() if json.loads(content)["status"] == "completed"}


# ------------------------------------------------------------------------------------- killed sweeps
def test_a_sweep_killed_mid_way_reruns_only_its_unfinished_runs(tmp_path, mirror):
    command = run_py_command(tmp_path, "-m", *QUICK_NAM, "seed=0,1,2,3", mirror=mirror)
    sweep = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not record_files(tmp_path) and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)  # the whole process group, as the OOM killer or scancel would
    sweep.wait()
    before = record_files(tmp_path)
    assert 1 <= len(before) < 4, "the kill landed after the first record and before the last"
    finished = completed(before)  # every file parses: json.loads above would fail on a torn record
    assert len(finished) == len(before)

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    after = record_files(tmp_path)
    assert len(completed(after)) == 4
    assert all(after[path] == content for path, content in finished.items()), "finished records are untouched"
    assert (rerun.stdout + rerun.stderr).count("skipping") == len(finished), "only unfinished runs reran"


def test_a_torn_record_is_never_taken_as_a_finished_run(tmp_path, mirror):
    cfg = run_config("model=linear", "dataset=housing", "data.max_rows=1000", runs_dir=tmp_path / "runs", mirror=mirror)
    path = record_path(cfg)
    write_json_atomic(path, {"status": "completed", "metrics": {"test": {"rmse": 0.1}}})
    path.write_text(path.read_text()[:30])  # half a file, as a crash in a non-atomic writer would leave
    assert not is_completed(path)
    record = run(cfg)
    assert record["status"] == "completed" and record["metrics"]["test"]["rmse"] != 0.1
    assert json.loads(path.read_text())["run_id"] == record["run_id"]


# ----------------------------------------------------------------------------- resuming a long run
@pytest.mark.parametrize("accelerator", ["cpu", pytest.param("gpu", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (run scripts/gpu_check.sh on a GPU machine)")])])
def test_a_run_resumed_after_a_crash_ends_exactly_where_an_uninterrupted_run_ends(tmp_path, mirror, monkeypatch,
                                                                                   accelerator):
    data = load("housing", max_rows=2000, mirror=mirror)
    settings = ("model=mixnam", "model.n_layers=2", "model.hidden_dim=16", "model.batch_size=256",
                "trainer.max_epochs=6", "trainer.patience_fraction=1", "trainer.checkpoint_every_n_epochs=1",
                f"trainer.accelerator={accelerator}")
    uninterrupted = build(training_config(*settings, run_dir=tmp_path / "whole"), data.problem)
    uninterrupted.fit(data.train, data.val)

    class Killed(Exception):
        pass

    save = BestCheckpoint.on_validation_end

    def crash_after_epoch_3(self, trainer, module):
        save(self, trainer, module)
        if trainer.current_epoch + 1 == 3:
            raise Killed

    monkeypatch.setattr(BestCheckpoint, "on_validation_end", crash_after_epoch_3)
    with pytest.raises(Killed):
        build(training_config(*settings, run_dir=tmp_path / "crashed"), data.problem).fit(data.train, data.val)
    monkeypatch.setattr(BestCheckpoint, "on_validation_end", save)
    seconds_before_the_crash = torch.load(tmp_path / "crashed" / "last.ckpt", weights_only=False)["callbacks"]["FitTime"]
    resumed = build(training_config(*settings, "resume=true", run_dir=tmp_path / "crashed"), data.problem)
    summary = resumed.fit(data.train, data.val)

    assert summary.extra["resumed"] and summary.epochs_run == 6
    # the run's cost counts the process that crashed, not only the one that finished it
    assert summary.earlier_seconds == seconds_before_the_crash["seconds"] > 0
    logged_before = (tmp_path / "crashed" / "metrics.csv").read_text()
    assert logged_before.count("\n2,") >= 1, "the epochs logged before the crash are kept"
    assert (tmp_path / "crashed" / "resumed-1" / "metrics.csv").is_file()
    # same optimizer, scheduler, batch order and dropout masks: the same weights, bit for bit on CPU (on a GPU,
    # up to the order of its parallel reductions)
    tolerance = {"rtol": 0, "atol": 0} if accelerator == "cpu" else {"rtol": 1e-4, "atol": 1e-5}
    np.testing.assert_allclose(resumed.predict(data.test.X), uninterrupted.predict(data.test.X), **tolerance)


def test_a_run_resumed_from_a_checkpoint_that_kept_no_fit_time_records_its_time_as_unknown_not_as_this_process(
        tmp_path, mirror):
    data = load("housing", max_rows=1000, mirror=mirror)
    settings = ("model=nam", "model.hidden_dims=[8]", "model.batch_size=256",
                "trainer.max_epochs=2", "trainer.checkpoint_every_n_epochs=1")
    build(training_config(*settings, run_dir=tmp_path), data.problem).fit(data.train, data.val)
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=False)
    del checkpoint["callbacks"]["FitTime"]  # as written before checkpoints kept it
    torch.save(checkpoint, tmp_path / "last.ckpt")
    summary = build(training_config(*settings, "resume=true", run_dir=tmp_path),
                    data.problem).fit(data.train, data.val)
    assert summary.extra["resumed"] and summary.earlier_seconds is None


# ---------------------------------------------------------------------------------- determinism
def test_the_same_config_and_seed_give_bitwise_equal_metrics(tmp_path, mirror):
    overrides = ("model=mixnam", "dataset=housing", "data.max_rows=1500", "model.n_layers=2", "model.hidden_dim=16",
                 "trainer.max_epochs=3", "trainer.enable_progress_bar=false", "force=true")
    first = run(run_config(*overrides, runs_dir=tmp_path / "a", mirror=mirror))
    second = run(run_config(*overrides, runs_dir=tmp_path / "b", mirror=mirror))
    other_seed = run(run_config(*overrides, "seed=1", runs_dir=tmp_path / "c", mirror=mirror))
    assert first["metrics"] == second["metrics"] and first["best_epoch"] == second["best_epoch"]
    assert other_seed["metrics"] != first["metrics"], "the seed reaches init, batch order and noise"


# ------------------------------------------------------------------------------ failures in sweeps
def test_a_diverging_run_is_recorded_failed_with_its_epoch_and_the_sweep_goes_on(tmp_path, mirror):
    result = subprocess.run(run_py_command(tmp_path, "-m", *QUICK_NAM, "model.lr=1e30,1e-3", mirror=mirror),
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    by_lr = {json.loads(c)["config"]["model"]["lr"]: json.loads(c) for c in record_files(tmp_path).values()}
    assert by_lr[1e30]["status"] == "failed" and "loss became nan at epoch 1" in by_lr[1e30]["error"]
    assert by_lr[1e-3]["status"] == "completed"


def test_more_experts_kept_than_exist_is_one_clear_paragraph(tmp_path, mirror):
    result = subprocess.run(run_py_command(tmp_path, *QUICK_NAM[1:3], "model=mixnam", "model.top_k=8", mirror=mirror),
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "model.top_k=8 must lie in 1..model.n_experts=4" in result.stderr and "Lower model.top_k" in result.stderr


def test_a_record_made_before_a_new_null_default_key_existed_is_still_skipped(tmp_path, mirror):
    """Adding an option (default null) to the config must not make every finished run look unfinished."""
    cfg = run_config("model=linear", "dataset=housing", "data.max_rows=1000", runs_dir=tmp_path / "runs", mirror=mirror)
    first = run(cfg)
    [path] = (tmp_path / "runs").rglob("*.json")
    legacy = json.loads(path.read_text())
    assert legacy["config"].pop("budget_caps") == {}  # as written before `budget_caps: {}` was added
    legacy["config"]["trainer"]["num_threads"] = None
    path.unlink()
    write_json_atomic(path.with_name(path.name.replace(first["run_id"], "0123456789ab")), legacy)
    again = run(run_config("model=linear", "dataset=housing", "data.max_rows=1000", runs_dir=tmp_path / "runs",
                           mirror=mirror))
    assert again["finished_at"] == first["finished_at"] and len(list((tmp_path / "runs").rglob("*.json"))) == 1
    changed = run(run_config("model=linear", "dataset=housing", "data.max_rows=1000", "seed=0", "split=0",
                             "data.verify_rows=false", runs_dir=tmp_path / "runs", mirror=mirror))
    assert changed["run_id"] != first["run_id"], "a changed setting is a different run"
