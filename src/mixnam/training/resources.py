"""What a neural fit may use of this machine: intra-op threads and the numeric precision.

A run's threads are decided once, at its start (`run_threads`), and stated in its first log line and
its record (`num_threads`, `num_threads_reason`): `trainer.num_threads` if set, else Slurm's
`SLURM_CPUS_PER_TASK`, else a local parallel sweep's (`hydra/launcher=local`, joblib) share of the
cores, else the cores this process may run on (`os.sched_getaffinity`, which a container, taskset or
Slurm narrows) less those other processes keep busy, measured over a short window: on a 2-core
machine beside another job, two threads ran a training step 4x slower than one (issue 27). The same
count bounds the BLAS and OpenMP pools of the library models (pygam's QR, scikit-learn): OpenBLAS
left at every core runs 5x slower beside another job.

OpenMP's idle threads sleep instead of spinning (`OMP_WAIT_POLICY=PASSIVE`, set by `import mixnam`
unless already set): a spinning thread takes the core from the thread a barrier waits for, so a
multi-threaded step that shares its cores collapses (docs/performance.md).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from omegaconf import DictConfig

from mixnam.errors import ConfigError

# 32-true: float32 throughout. bf16-mixed: bfloat16 autocast (matmuls in bf16, reductions and the
# loss in float32); fast where the hardware multiplies bf16 natively (AMX, AVX512-BF16, tensor cores).
PRECISIONS = ("32-true", "bf16-mixed")


def allowed_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_local_jobs() -> int:
    """How many jobs a local (joblib) multirun runs at once beside this one; 1 outside such a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return 1
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN or "joblib" not in str(hydra.launcher.get("_target_", "")):
        return 1
    n_jobs = int(hydra.launcher.get("n_jobs") or 1)
    return allowed_cores() if n_jobs < 0 else n_jobs


# How long, and how often, the other processes' runnable threads are counted at a run's start.
LOAD_WINDOW_SECONDS, LOAD_SAMPLES = 0.3, 10


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str


def runnable_threads_elsewhere(window: float = LOAD_WINDOW_SECONDS, samples: int = LOAD_SAMPLES) -> float | None:
    """Mean number of other processes' runnable threads over `window` seconds; None without Linux's /proc.

    /proc/loadavg's running count (the kernel's nr_running, every core) less this process's own running threads."""
    loadavg, own_tasks = Path("/proc/loadavg"), Path("/proc/self/task")
    if not loadavg.exists():
        return None
    counts = []
    for sample in range(samples):
        running = int(loadavg.read_text().split()[3].split("/")[0])
        own = sum(_task_is_running(task) for task in own_tasks.iterdir())
        counts.append(max(0, running - own))
        if sample < samples - 1:
            time.sleep(window / (samples - 1))
    return sum(counts) / len(counts)


def _task_is_running(task: Path) -> bool:
    try:  # the state follows the parenthesised command name, which may itself hold spaces
        return (task / "stat").read_text().rpartition(")")[2].split()[0] == "R"
    except OSError:  # the thread ended between the listing and the read
        return False


def idle_cores(allowed: int, online: int, busy_elsewhere: float) -> int:
    """`allowed` cores less the runnable threads of other processes that fall on them (in proportion, when
    the affinity mask holds only part of the machine's `online` cores); at least 1."""
    busy_here = busy_elsewhere * min(1.0, allowed / max(online, 1))
    return max(1, allowed - int(busy_here + 0.5))


def thread_choice(requested: int | None) -> ThreadChoice:
    """The threads a run starting now should use, and why (see the module's docstring for the order)."""
    if requested:
        return ThreadChoice(int(requested), f"trainer.num_threads={requested}")
    if slurm := os.environ.get("SLURM_CPUS_PER_TASK"):
        if not slurm.isdigit() or int(slurm) < 1:
            raise ConfigError(f"SLURM_CPUS_PER_TASK={slurm!r} is not a number of cores; unset it or set "
                              "trainer.num_threads=N")
        runs = int(os.environ.get("MIXNAM_RUNS_PER_JOB") or 1)  # runs packed into one Slurm job share its CPUs
        if runs > 1:
            return ThreadChoice(max(1, int(slurm) // runs), f"SLURM_CPUS_PER_TASK={slurm} shared by the {runs} runs "
                                                            "of one Slurm job (hydra.launcher.runs_per_job)")
        return ThreadChoice(int(slurm), f"SLURM_CPUS_PER_TASK={slurm}")
    allowed, jobs = allowed_cores(), parallel_local_jobs()
    if jobs > 1:
        return ThreadChoice(max(1, allowed // jobs), f"{allowed} allowed cores shared by a local sweep's {jobs} jobs")
    busy = runnable_threads_elsewhere()
    if busy is None:
        return ThreadChoice(allowed, f"{allowed} allowed cores (no /proc/loadavg to see other processes)")
    threads = idle_cores(allowed, os.cpu_count() or allowed, busy)
    return ThreadChoice(threads, f"{allowed} allowed cores less {busy:.1f} runnable threads of other processes "
                                 f"(mean over {LOAD_WINDOW_SECONDS:g} s)")


_RUN_THREADS: ContextVar[ThreadChoice | None] = ContextVar("run_threads", default=None)


def run_threads(requested: int | None) -> ThreadChoice:
    """The choice `native_threads` holds for the run in progress, else a new one: one run, one measurement."""
    return _RUN_THREADS.get() or thread_choice(requested)


@contextmanager
def native_threads(requested: int | None) -> Iterator[ThreadChoice]:
    """The run's thread choice, held for its duration, with the BLAS and OpenMP pools limited to it (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    choice = run_threads(requested)
    token = _RUN_THREADS.set(choice)
    try:
        with threadpool_limits(limits=choice.threads):
            yield choice
    finally:
        _RUN_THREADS.reset(token)


def check_precision(trainer_cfg: DictConfig) -> str:
    precision = str(trainer_cfg.precision)
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision={precision!r} is not supported; use one of {', '.join(PRECISIONS)} "
                          "(e.g. trainer.precision=32-true)")
    return precision
