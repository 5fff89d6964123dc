"""The Slurm path for real, on a one-node cluster (`scripts/local_slurm.sh start`; `.ci/run` starts it):
a sweep through `hydra/launcher=slurm_cpu` writes its records and its rerun submits nothing; a job
cancelled mid-run leaves an `interrupted` record and the rerun finishes it from its checkpoint; a job that
reaches its time limit is requeued and continues; a request no node can meet fails before submission.

Outside CI, without a cluster, these tests skip and say how to start one; in CI they must run.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_sweeps import records

CPU_JOBS = ("hydra/launcher=slurm_cpu", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1")
SMALL = ("experiment=table1", "profile=smoke", "dataset=housing", "data.max_rows=1500")


def cluster_is_up() -> bool:
    return shutil.which("sbatch") is not None and subprocess.run(["scontrol", "ping"], capture_output=True,
                                                                       check=False).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def slurm():
    if cluster_is_up():
        return
    message = "no Slurm cluster answers `scontrol ping`; start one with `sudo scripts/local_slurm.sh start`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (.ci/run does it before the tests)")
    pytest.skip(message)


def command(tmp_path: Path, *overrides: str, mirror=None) -> list[str]:
    return [sys.executable, str(ROOT / "run.py"), "-m", f"paths.runs_dir={tmp_path / 'runs'}",
            f"hydra.sweep.dir={tmp_path / 'multirun'}", *([f"data.mirror={mirror}"] if mirror else []), *overrides]


def sweep(tmp_path: Path, *overrides: str, mirror=None, ok=True) -> str:
    result = subprocess.run(command(tmp_path, *overrides, mirror=mirror), cwd=ROOT, capture_output=True, text=True,
                            timeout=540, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    log = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, log
    return log


def submitted(tmp_path: Path) -> list[Path]:
    """One submitit folder per Slurm job (array task) the sweeps under tmp_path submitted."""
    return sorted(p.parent for p in (tmp_path / "multirun" / ".submitit").glob("*/*_submitted.pkl"))


def job_log(tmp_path: Path, model: str) -> str:
    """stdout and stderr of the Slurm jobs that trained `model` (submitit's `<job>_<task>_log.out|err`)."""
    logs = {}
    for path in sorted((tmp_path / "multirun" / ".submitit").glob("*/*_log.*")):
        logs.setdefault(path.parent, []).append(path.read_text())
    return "".join(text for texts in logs.values() if f"/{model}/" in "".join(texts) for text in texts)


def test_a_sweep_on_slurm_writes_records_and_its_rerun_submits_nothing(tmp_path, mirror):
    sweep(tmp_path, *SMALL, "model=linear,nam", *CPU_JOBS, mirror=mirror)
    runs = records(tmp_path)
    assert sorted((r["model"], r["seed"], r["status"]) for r in runs.values()) == [
        ("linear", 0, "completed"), ("linear", 1, "completed"), ("nam", 0, "completed"), ("nam", 1, "completed")]
    assert len(submitted(tmp_path)) == 4
    assert "epoch 2/2, train loss" in job_log(tmp_path, "nam")  # progress lines in the Slurm job's log
    log = sweep(tmp_path, *SMALL, "model=linear,nam", *CPU_JOBS, mirror=mirror)
    assert "4 of 4 jobs have a completed record" in log and "launching 0" in log
    assert len(submitted(tmp_path)) == 4 and records(tmp_path) == runs


def test_a_request_no_node_can_meet_fails_before_submission_naming_the_key(tmp_path):
    started = time.monotonic()
    log = sweep(tmp_path, *SMALL, "model=nam", "hydra/launcher=slurm", ok=False)  # the GPU profile on a CPU node
    assert "hydra.launcher.gpus_per_node" in log or "hydra.launcher.cpus_per_task" in log, log
    log = sweep(tmp_path, *SMALL, "model=linear", *CPU_JOBS, "hydra.launcher.mem_gb=100000", ok=False)
    assert "hydra.launcher.mem_gb=100000" in log and "slurm_cpu" in log
    assert not submitted(tmp_path) and time.monotonic() - started < 120


LONG_RUN = (*SMALL, "model=nam", "seed=0", "trainer.patience_fraction=1", "trainer.checkpoint_every_n_epochs=1",
            *CPU_JOBS)


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {seconds:.0f}s")


def background_sweep(tmp_path: Path, *overrides: str, mirror=None) -> subprocess.Popen:
    with open(tmp_path / "sweep.log", "a") as out:
        return subprocess.Popen(command(tmp_path, *overrides, mirror=mirror), cwd=ROOT, stdout=out, stderr=out,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})


def cancel_all(tmp_path: Path, sweep_process: subprocess.Popen) -> int:
    """scancel the jobs the sweep submitted; the sweep's exit status once it has seen them end."""
    subprocess.run(["scancel", *(p.name for p in submitted(tmp_path))], check=False)
    try:
        return sweep_process.wait(timeout=120)
    finally:
        sweep_process.kill()


def test_a_cancelled_job_leaves_an_interrupted_record_and_the_rerun_resumes_from_its_checkpoint(tmp_path, mirror):
    overrides = (*LONG_RUN, "trainer.max_epochs=60", "resume=true")
    first = background_sweep(tmp_path, *overrides, mirror=mirror)
    try:
        wait_for(lambda: any((tmp_path / "runs").rglob("last.ckpt")), 300, "a first checkpoint")
    finally:
        assert cancel_all(tmp_path, first) != 0  # the sweep reports the job as not completed; it does not hang
    [record] = records(tmp_path).values()
    assert record["status"] == "interrupted" and "resume=true" in record["error"], record.get("error")  # SIGTERM
    log = sweep(tmp_path, *overrides, mirror=mirror)
    [record] = records(tmp_path).values()
    assert record["status"] == "completed" and record["resumed"] and record["epochs_run"] == 60, log


def first_epoch_of_each_attempt(tmp_path: Path) -> list[int | None]:
    """The first epoch each start of the job logged (submitit appends every requeued start to one log)."""
    text = job_log(tmp_path, "nam")
    attempts = text.split("Starting with JobEnvironment")[1:]
    return [int(m.group(1)) if (m := re.search(r": epoch (\d+)/", attempt)) else None for attempt in attempts]


def test_a_job_that_hits_its_time_limit_is_requeued_and_continues(tmp_path, mirror):
    """A 2-minute limit on a run of 10^5 epochs: submitit catches Slurm's warning signal, requeues the job,
    and the next start continues from last.ckpt (its first epoch is not 1); then the test cancels it.
    The signal is asked for 30 s before the limit and Slurm sends it up to 60 s earlier, so 30 to 90 s
    into the job: a 1-minute limit could leave no time to start training at all on a busy machine."""
    overrides = (*LONG_RUN, "trainer.max_epochs=100000", "trainer.log_progress.every_epochs=1", "resume=true",
                 "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=30")
    running = background_sweep(tmp_path, *overrides, mirror=mirror)
    try:
        wait_for(lambda: any(epoch and epoch > 1 for epoch in first_epoch_of_each_attempt(tmp_path)[1:]), 300,
                 "a requeued start that continues from the checkpoint")
    finally:
        cancel_all(tmp_path, running)
    assert "this job is timed-out" in job_log(tmp_path, "nam") and "Requeued job" in job_log(tmp_path, "nam")
    [record] = records(tmp_path).values()
    assert record["status"] == "interrupted"  # cancelled at last: a valid record, never taken as finished


# ------------------------------------------------------------------ where runs go: CPU resources, packed jobs
def submission_scripts(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in sorted((tmp_path / "multirun" / ".submitit").rglob("*_submission.sh")))


def test_a_gpu_sweeps_cpu_only_models_ask_for_no_gpu_and_run_on_a_cpu_node(tmp_path, mirror):
    """Table 1's GPU profile with Linear: the one-node cluster has no GPU, so a GPU request would be refused;
    the job asks for `hydra.launcher.cpu_jobs` instead and runs."""
    log = sweep(tmp_path, *SMALL, "model=linear", "hydra/launcher=slurm", "hydra.launcher.cpu_jobs.cpus_per_task=1",
                "hydra.launcher.cpu_jobs.mem_gb=1", mirror=mirror)
    assert "(CPU resources: hydra.launcher.cpu_jobs)" in log
    assert sorted((r["model"], r["status"]) for r in records(tmp_path).values()) == [("linear", "completed")] * 2
    scripts = submission_scripts(tmp_path)
    assert "--cpus-per-task=1" in scripts and "--gpus" not in scripts and "--gres" not in scripts


def test_several_runs_share_one_slurm_job_and_divide_its_cores(tmp_path, mirror):
    sweep(tmp_path, *SMALL, "model=nam", *CPU_JOBS[:1], "hydra.launcher.cpus_per_task=2", "hydra.launcher.mem_gb=2",
          "hydra.launcher.runs_per_job=2", mirror=mirror)
    runs = records(tmp_path).values()
    assert sorted((r["seed"], r["status"]) for r in runs) == [(0, "completed"), (1, "completed")]
    assert len(submitted(tmp_path)) == 1, "both runs went to one Slurm job"
    assert all(r["num_threads"] == 1 and "shared by the 2 runs of one Slurm job" in r["num_threads_reason"]
               for r in runs)
