"""`run.py` end to end, as a user types it: one run -> one record; bad input -> one clear paragraph."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_py(*overrides, env_mirror=None, check=True):
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), *overrides], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"run.py failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def records(runs_dir):
    return [json.loads(p.read_text()) for p in sorted(runs_dir.rglob("*.json"))]


def test_linear_on_housing_writes_a_complete_record_and_is_skipped_when_rerun(tmp_path):
    runs = tmp_path / "runs"
    run_py("model=linear", "dataset=housing", f"paths.runs_dir={runs}")
    [record] = records(runs)
    assert record["status"] == "completed" and record["model"] == "linear" and record["dataset"] == "housing"
    assert 0.5 < record["metrics"]["test"]["rmse"] < 0.9  # the paper's Linear: 0.735
    assert record["data"]["n_train"] == 14447 and "random_state=0" in record["data"]["split_source"]
    for key in ("split", "seed", "experiment", "run_id", "fit_seconds", "n_params", "config", "env", "best_epoch",
                "epochs_run"):
        assert key in record
    assert record["env"]["git_commit"] and record["env"]["torch"]
    second = run_py("model=linear", "dataset=housing", f"paths.runs_dir={runs}")
    assert "skipping" in second.stdout + second.stderr
    run_py("model=linear", "dataset=housing", f"paths.runs_dir={runs}", "force=true")
    assert len(records(runs)) == 1, "force reruns into the same record"


def _one_paragraph_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize("override,fragments", [
    ("dataset=housng", ["unknown dataset 'housng'", "Did you mean housing"]),
    ("model=mixnma", ["unknown model 'mixnma'", "Did you mean mixnam"]),
    ("splt=1", ["unknown config key 'splt'", "split"]),
    ("seed=abc", ["wrong type", "seed expects an int"]),
])
def test_bad_command_lines_get_one_clear_paragraph(override, fragments):
    _one_paragraph_error(run_py("model=linear", override, check=False), *fragments)


def test_missing_mimic_files_fail_clearly_and_leave_a_failed_record(tmp_path):
    runs = tmp_path / "runs"
    result = run_py("model=linear", "dataset=mimic2", f"paths.data_dir={tmp_path / 'empty'}", "data.mirror=null",
                    f"paths.runs_dir={runs}", check=False)
    _one_paragraph_error(result, "mimic2.data", "physionet.org")
    [record] = records(runs)
    assert record["status"] == "failed" and "mimic2.data" in record["error"]


def test_gpu_requested_on_a_machine_without_one(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")  # CI machines never do
    result = run_py("model=linear", "trainer.accelerator=gpu", f"paths.runs_dir={tmp_path}", check=False)
    _one_paragraph_error(result, "no CUDA device")
