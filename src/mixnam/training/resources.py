"""What a neural fit may use of this machine: intra-op threads and the numeric precision.

Threads default to the cores this process is allowed to run on (`os.sched_getaffinity`, which a
container, taskset or Slurm narrows), not torch's guess from the whole machine; a local parallel
sweep (`hydra/launcher=local`, joblib) shares them between its jobs. `trainer.num_threads` overrides,
then Slurm's `SLURM_CPUS_PER_TASK`. The same count bounds the BLAS and OpenMP pools of the library
models (pygam's QR, scikit-learn): OpenBLAS left at every core runs 5x slower beside another job.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
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


def intra_op_threads(requested: int | None) -> int:
    """`trainer.num_threads` if set, else Slurm's CPUs per task, else this process's share of its allowed cores."""
    requested = requested or os.environ.get("SLURM_CPUS_PER_TASK")
    if requested:
        return int(requested)
    return max(1, allowed_cores() // parallel_local_jobs())


@contextmanager
def native_threads(requested: int | None) -> Iterator[int]:
    """BLAS and OpenMP pools held to `intra_op_threads(requested)` for the duration (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    threads = intra_op_threads(requested)
    with threadpool_limits(limits=threads):
        yield threads


def check_precision(trainer_cfg: DictConfig) -> str:
    precision = str(trainer_cfg.precision)
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision={precision!r} is not supported; use one of {', '.join(PRECISIONS)} "
                          "(e.g. trainer.precision=32-true)")
    return precision
