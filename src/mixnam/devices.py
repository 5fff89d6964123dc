"""The one device a run trains on, what its record says about it, and the torch state a run may touch.

`trainer.accelerator` is decided here for every model (the Lightning-trained networks, NODE, XGBoost,
the scikit-learn estimators), so the weights, the batches, the predictions and the explanations of a
run all live on the same device: `auto` means CUDA when it is visible, else the CPU. One run uses one
device; several GPUs are used by running several runs (a local parallel sweep, or Slurm).

torch keeps process-wide settings (float32 matmul precision, deterministic algorithms, cuDNN flags,
intra-op threads) that a run sets for itself; `process_state_restored` puts them back, so the next run
of a multirun, or the caller of a scikit-learn estimator, finds the process as it was. torch is only
imported inside the functions: the checks before any work must not load it.
"""
from __future__ import annotations

import os
import platform
import subprocess
from contextlib import contextmanager
from typing import Any, Iterator

from mixnam.errors import ConfigError, MixnamError

ACCELERATORS = ("cpu", "gpu", "cuda", "auto")


def run_device(accelerator: str) -> str:
    """`cpu` or `cuda`: the device `trainer.accelerator` asks for on this machine, or a clear error."""
    import torch

    accelerator = str(accelerator)
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"trainer.accelerator={accelerator!r} is not a device; use one of {', '.join(ACCELERATORS)}")
    if accelerator == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if accelerator == "auto":
        return "cpu"
    raise MixnamError(f"trainer.accelerator={accelerator} but no CUDA device is visible on this machine "
                      "(torch.cuda.is_available() is False). Use trainer=cpu (or trainer.accelerator=auto) here, or "
                      "run on a GPU node with a CUDA build of torch (see README, Set up).")


def lightning_accelerator(device: str) -> str:
    return "gpu" if device == "cuda" else "cpu"


def check_one_device(devices: Any) -> None:
    """A run trains on one device: Lightning's DDP on our in-memory batches would train every rank on all
    rows and let every rank write best.pt and the record."""
    if devices in (1, "1", "auto"):
        return
    raise ConfigError(
        f"trainer.devices={devices}: one run trains on one device (the harness's batches are not sharded across "
        "ranks). To use several GPUs, run several runs at once: a local sweep (hydra/launcher=local "
        "hydra.launcher.n_jobs=N, with CUDA_VISIBLE_DEVICES per node) or Slurm (hydra/launcher=slurm, one GPU per "
        "job, hydra.launcher.runs_per_job=N to pack several runs on it). Set trainer.devices=1.")


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return out[0] if out else None


def cpu_model() -> str:
    """The processor's marketing name (`platform.processor()` says only x86_64 on Linux)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: str) -> dict[str, Any]:
    """What a record says about where it ran: the GPU, its memory, the driver and CUDA versions (a GPU run)."""
    if device != "cuda":
        return {}
    import torch

    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2 ** 30, 1),
            "gpu_capability": f"{props.major}.{props.minor}", "gpu_driver": _nvidia_driver(),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


@contextmanager
def process_state_restored() -> Iterator[None]:
    """Run a fit, then give the process back the torch settings it had (Lightning's deterministic mode
    and a run's matmul precision would otherwise stay on for the next run of the process)."""
    import torch

    saved = (torch.get_float32_matmul_precision(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic, torch.get_num_threads(), os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    try:
        yield
    finally:
        precision, deterministic, warn_only, benchmark, cudnn_deterministic, threads, workspace = saved
        torch.set_float32_matmul_precision(precision)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, cudnn_deterministic
        torch.set_num_threads(threads)
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace
