"""Issue 27: a run's threads follow what the machine can give at its start, say why, and the bench's
contention mode cleans up after itself. No timing here: the speed targets live in `make bench --contention`."""
from __future__ import annotations

import importlib.util
import os

import pytest

from mixnam.errors import ConfigError
from mixnam.training import resources
from mixnam.training.resources import idle_cores, run_threads, runnable_threads_elsewhere, thread_choice
from tests.conftest import ROOT


@pytest.fixture
def two_cores(monkeypatch):
    """A 2-core machine outside Slurm and outside a local sweep; the test sets the other processes' load."""
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.setattr(resources, "allowed_cores", lambda: 2)
    monkeypatch.setattr(resources, "parallel_local_jobs", lambda: 1)
    monkeypatch.setattr(resources.os, "cpu_count", lambda: 2)

    def load(busy: float | None) -> None:
        monkeypatch.setattr(resources, "runnable_threads_elsewhere", lambda: busy)

    return load


@pytest.mark.parametrize("busy, threads", [(0.0, 2), (0.4, 2), (0.6, 1), (1.0, 1), (2.0, 1), (5.0, 1)])
def test_the_default_takes_the_cores_other_processes_leave(two_cores, busy, threads):
    two_cores(busy)
    choice = thread_choice(None)
    assert choice.threads == threads
    assert choice.reason == f"2 allowed cores less {busy:.1f} runnable threads of other processes (mean over 0.3 s)"


def test_a_narrow_affinity_mask_counts_only_its_share_of_the_machines_load():
    assert idle_cores(allowed=8, online=16, busy_elsewhere=4.0) == 6
    assert idle_cores(allowed=16, online=16, busy_elsewhere=4.0) == 12


def test_without_proc_the_default_is_every_allowed_core(two_cores):
    two_cores(None)
    assert thread_choice(None) == resources.ThreadChoice(2, "2 allowed cores (no /proc/loadavg to see other processes)")


def test_an_explicit_count_slurm_and_a_local_sweep_override_the_measurement(two_cores, monkeypatch):
    def unmeasured():
        raise AssertionError("the load was measured although the threads were given")

    monkeypatch.setattr(resources, "runnable_threads_elsewhere", unmeasured)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    assert thread_choice(3) == resources.ThreadChoice(3, "trainer.num_threads=3")
    assert thread_choice(None) == resources.ThreadChoice(4, "SLURM_CPUS_PER_TASK=4")
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    monkeypatch.setattr(resources, "parallel_local_jobs", lambda: 2)
    assert thread_choice(None) == resources.ThreadChoice(1, "2 allowed cores shared by a local sweep's 2 jobs")


def test_a_malformed_slurm_cpu_count_names_the_fix(two_cores, monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2(x3)")
    with pytest.raises(ConfigError, match="trainer.num_threads=N"):
        thread_choice(None)


def test_a_run_measures_once_and_its_fit_uses_that_choice(two_cores):
    two_cores(1.0)
    with resources.native_threads(None) as choice:
        two_cores(0.0)  # the load changes during the run: the fit keeps the run's choice
        assert run_threads(None) is choice and choice.threads == 1
    assert run_threads(None).threads == 2


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="Linux's /proc")
def test_the_load_is_read_from_proc_without_counting_this_process():
    busy = runnable_threads_elsewhere(window=0.0, samples=1)
    assert busy is not None and 0 <= busy < 10_000


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_models", ROOT / "scripts" / "bench_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_takes_none_for_no_epochs_and_names_unknown_datasets():
    bench = bench_module()
    assert bench.dataset_names("none") == [] and bench.dataset_names("") == []
    assert bench.dataset_names("housing,income") == ["housing", "income"]
    with pytest.raises(Exception, match="unknown dataset year: use some of housing, income, credit"):
        bench.dataset_names("housing,year")


def test_the_bench_always_ends_its_competing_process():
    bench = bench_module()
    with bench.competing_busy_process(60) as contender:
        assert contender.poll() is None  # running
    assert contender.poll() is not None
    with pytest.raises(KeyboardInterrupt), bench.competing_busy_process(60) as contender:
        raise KeyboardInterrupt
    assert contender.poll() is not None
