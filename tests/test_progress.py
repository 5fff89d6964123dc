"""A run's log can be followed where no progress bar can be drawn (Slurm, nohup, CI): a line at a
readable rate with epoch, loss, validation metric, best so far and ETA; each Lightning message once,
no advertisements; a Slurm job trains on the cores it was given."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import torch

from mixnam.runs.lookup import compared
from mixnam.runs.records import run_id
from mixnam.training.lightning import build
from mixnam.training.resources import native_threads
from tests.conftest import ROOT
from tests.test_training import config, toy_classification

PROGRESS = re.compile(r"housing/nam/split0-seed0-\w+: epoch (\d+)/12, train loss [\d.e+-]+, val rmse [\d.]+, "
                      r"best [\d.]+ \(epoch \d+\), [\d.]+ s/epoch, ETA \d+m\d\ds")


def logged_run(tmp_path, mirror, *overrides: str) -> str:
    """run.py on 1,500 Housing rows with its output piped to a file, as under nohup or Slurm: the log it leaves."""
    args = [sys.executable, str(ROOT / "run.py"), "dataset=housing", "data.max_rows=1500", *overrides,
            f"paths.runs_dir={tmp_path / 'runs'}", f"hydra.run.dir={tmp_path / 'out'}",
            *([f"data.mirror={mirror}"] if mirror else [])]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,  # pipes, not a terminal
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    return log


def test_a_run_logged_to_a_file_shows_progress_lines_and_each_lightning_message_once(tmp_path, mirror):
    log = logged_run(tmp_path, mirror, "model=nam", "model.hidden_dims=[8]", "trainer.max_epochs=12",
                     "trainer.patience_fraction=1", "trainer.log_progress.every_epochs=5")
    assert [int(m.group(1)) for m in PROGRESS.finditer(log)] == [1, 5, 10, 12], log
    assert log.count("GPU available") == 1 and "Tip:" not in log and "━" not in log, log


def test_a_library_baseline_logs_its_fit_and_each_penalty_it_tries(tmp_path, mirror):
    """A spline fit on Income runs for minutes without epochs; its log still says what it is doing."""
    log = logged_run(tmp_path, mirror, "model=linear", "model.alphas=[0.1,1.0,10.0]")
    assert re.search(r"housing/linear/split0-seed0-\w+: fitting on \d+ rows \(\d+ validation, \d+ test\), 8 features",
                     log), log
    candidates = re.findall(r"LinearBaseline alpha = ([\d.]+) \((\d)/3\): validation rmse [\d.]+, best", log)
    assert candidates == [("0.1", "1"), ("1", "2"), ("10", "3")], log
    assert re.search(r"housing/linear/split0-seed0-\w+: fitted in 0m\d\ds; validation rmse [\d.]+, test [\d.]+", log), log


def test_a_slurm_jobs_cores_become_its_torch_threads_for_the_fit_and_the_caller_gets_its_own_back(tmp_path,
                                                                                                   monkeypatch):
    problem, train, val = toy_classification()
    threads = torch.get_num_threads()
    during = []
    set_threads = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: during.append(n) or set_threads(n))
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    build(config("model=nam", "model.hidden_dims=[8]", "trainer.max_epochs=1", run_dir=tmp_path / "slurm"),
          problem).fit(train, val)
    assert during[0] == 3 and torch.get_num_threads() == threads
    during.clear()
    build(config("model=nam", "model.hidden_dims=[8]", "trainer.max_epochs=1", "trainer.num_threads=2",
                 run_dir=tmp_path / "set"), problem).fit(train, val)
    assert during[0] == 2 and torch.get_num_threads() == threads  # an explicit trainer.num_threads wins


def test_the_library_models_blas_pools_get_the_same_share_of_the_cores(monkeypatch):
    """pygam's QR under another job: OpenBLAS at every core runs 5x slower than at its share."""
    from threadpoolctl import threadpool_info

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    with native_threads(None) as threads:
        pools = threadpool_info()
        assert threads.threads == 1 and pools and all(pool["num_threads"] == 1 for pool in pools), pools


XGBOOST_FIT_UNDER_A_SHARE = """
import os, sys
import numpy as np
from xgboost import XGBRegressor
from mixnam.training.resources import native_threads
X = np.random.default_rng(0).random((5000, 8))
before = len(os.listdir("/proc/self/task"))
with native_threads(int(sys.argv[1])):
    XGBRegressor(n_estimators=20, n_jobs=-1, tree_method="hist").fit(X, X.sum(1))
print(len(os.listdir("/proc/self/task")) - before)
"""


def test_xgboost_asked_for_every_core_stays_on_the_runs_share():
    """conf/model/xgboost.yaml says n_jobs: -1; the OpenMP team it starts is still the run's share."""
    def threads_started(share: int) -> int:
        result = subprocess.run([sys.executable, "-c", XGBOOST_FIT_UNDER_A_SHARE, str(share)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120, check=True)
        return int(result.stdout.split()[-1])

    assert threads_started(1) == 0
    if os.cpu_count() > 1:
        assert threads_started(2) == 1  # the same fit given two cores does start a second thread


def test_how_often_progress_is_logged_does_not_make_another_run():
    """The same run, logged every epoch or every 10: its record is found either way (sweeps and reports)."""
    run = ("model=nam", "paths.root=/checkout")
    assert run_id(config(*run)) == run_id(config(*run, "trainer.log_progress.every_epochs=1"))
    assert not compared("trainer.log_progress.every_epochs") and compared("trainer.max_epochs")
