"""The Slurm launcher of `hydra/launcher=slurm|slurm_cpu`: submitit's, after a check of what the jobs ask for,
with the library models sent to CPU resources and several runs packed into one job.

A request no node of the partition can meet (8 CPUs on a 2-core node, a GPU on a CPU partition) is
refused by sbatch with "Requested node configuration is not available", which names no setting, or,
on a cluster without `EnforcePartLimits`, waits as PENDING forever. Checked against `sinfo` before
anything is submitted, it fails at once with the launcher key to change.

A GPU sweep (Table 1 is one sweep of 14 models) would give every job a GPU, and Linear, Spline, EBM and
EB2M would hold one for minutes of CPU work: their jobs get `cpu_jobs` instead (no GPU, fewer cores).
A paper-budget neural run is bound by kernel launches on one core and leaves a GPU mostly idle:
`runs_per_job=N` runs N of a sweep's runs at once in one Slurm job, on its GPU, its CPUs divided among them.
"""
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from mixnam.errors import ConfigError
from mixnam.models import CPU_ONLY

log = logging.getLogger(__name__)
RUNS_PER_JOB_ENV = "MIXNAM_RUNS_PER_JOB"  # read by mixnam.training.resources to divide the job's CPUs

PROFILES = "hydra/launcher=slurm (GPU nodes) or hydra/launcher=slurm_cpu (CPU nodes)"


class Node(NamedTuple):
    partition: str
    default: bool
    cpus: int
    mem_mb: int
    gpus: int


def gpu_count(gres: str) -> int:
    """`gpu:4`, `gpu:a100:4(S:0-1)`, `(null)` -> 4, 4, 0."""
    return sum(int(count) for count in re.findall(r"gpu(?::[^:,()]+)?:(\d+)", gres))


def slurm_nodes() -> list[Node]:
    if shutil.which("sinfo") is None:
        raise ConfigError("hydra/launcher=slurm needs Slurm's commands (sinfo, sbatch) on this machine; run the sweep "
                          "from a cluster's login node, try it on a local one-node cluster (sudo "
                          "scripts/local_slurm.sh start), or use hydra/launcher=local")
    listing = subprocess.run(["sinfo", "-h", "-N", "-o", "%P|%c|%m|%G"], capture_output=True, text=True, timeout=60,
                             check=False)
    if listing.returncode != 0:
        raise ConfigError(f"sinfo failed, so Slurm is not reachable from here: {listing.stderr.strip()}")
    nodes = []
    for line in listing.stdout.split():
        partition, cpus, mem_mb, gres = line.split("|")
        nodes.append(Node(partition.rstrip("*"), partition.endswith("*"), int(cpus), int(mem_mb.rstrip("+")),
                          gpu_count(gres)))
    return nodes


def check_request(params: dict[str, Any], nodes: Sequence[Node]) -> None:
    """Raise naming `hydra.launcher.<key>` when no node of the partition can run one job as asked."""
    partition = params.get("partition")
    partitions = sorted({n.partition for n in nodes})
    candidates = [n for n in nodes if (n.partition == partition if partition else n.default)]
    if not candidates:
        raise ConfigError(f"hydra.launcher.partition={partition} names no partition of this cluster (it has "
                          f"{', '.join(partitions) or 'none'}); set hydra.launcher.partition= or MIXNAM_SLURM_PARTITION")
    where = f"partition {candidates[0].partition!r}"
    tasks = int(params.get("tasks_per_node") or 1)
    asked = {"cpus_per_task": (int(params.get("cpus_per_task") or 1) * tasks, max(n.cpus for n in candidates), "CPUs"),
             "mem_gb": (float(params.get("mem_gb") or 0) * 1024, max(n.mem_mb for n in candidates), "MB of memory"),
             "gpus_per_node": (int(params.get("gpus_per_node") or 0), max(n.gpus for n in candidates), "GPUs")}
    for key, (wanted, largest, unit) in asked.items():
        if wanted > largest:
            raise ConfigError(
                f"hydra.launcher.{key}={params.get(key)} asks for {wanted:g} {unit} per job, but the largest node of "
                f"{where} has {largest:g}: lower hydra.launcher.{key}, pick another hydra.launcher.partition, or "
                f"use the launcher profile for these nodes: {PROFILES}")


@dataclass
class MixnamSlurmConf(SlurmQueueConf):
    """submitit's Slurm settings plus how runs are placed (conf/hydra/launcher/slurm.yaml)."""

    _target_: str = "hydra_plugins.mixnam_launcher.CheckedSlurmLauncher"
    runs_per_job: int = 1  # runs of the sweep at once in one Slurm job (sharing its GPU and CPUs)
    # what a CPU-only model's job asks for when the profile asks for GPUs
    cpu_jobs: dict[str, Any] = field(default_factory=lambda: {"gpus_per_node": None, "cpus_per_task": 2,
                                                              "mem_gb": 4})


ConfigStore.instance().store(group="hydra/launcher", name="mixnam_slurm", node=MixnamSlurmConf, provider="mixnam")


def model_of(overrides: Sequence[str]) -> str:
    """The model a job trains (`model=...`; the config's default, MixNAM, when the job does not say)."""
    return next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "model"), "mixnam")


def _run_one(launcher_and_job: bytes) -> bytes:
    """One run of a `PackedRuns` job, in a process of its own."""
    import cloudpickle

    launcher, job = cloudpickle.loads(launcher_and_job)
    return cloudpickle.dumps(launcher(*job))


class PackedRuns:
    """Several runs of a sweep in one Slurm job, at the same time, each in a process of its own."""

    def __init__(self, launcher: "CheckedSlurmLauncher", jobs: list[tuple]):
        self.launcher, self.jobs = launcher, jobs

    def __call__(self) -> list[JobReturn]:
        import cloudpickle  # as submitit: the task function lives in run.py's __main__, which pickle cannot name

        os.environ[RUNS_PER_JOB_ENV] = str(len(self.jobs))
        with ProcessPoolExecutor(len(self.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_run_one, cloudpickle.dumps((self.launcher, job))) for job in self.jobs]
            return [cloudpickle.loads(future.result()) for future in futures]

    def checkpoint(self) -> Any:
        """Preempted or timed out: submitit requeues the same runs (resume=true continues each)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self)


class CheckedSlurmLauncher(SlurmLauncher):
    """submitit's Slurm launcher that refuses, before submitting, a job no node can run; sends CPU-only
    models to `cpu_jobs` resources and packs `runs_per_job` runs into each job."""

    def __init__(self, runs_per_job: int = 1, cpu_jobs: dict | None = None, **params: Any) -> None:
        super().__init__(**params)
        if int(runs_per_job) < 1:
            raise ConfigError(f"hydra.launcher.runs_per_job={runs_per_job}: a Slurm job runs at least one run; "
                              "set it to 1 or more")
        self.runs_per_job = int(runs_per_job)
        self.cpu_params = {**self.params, **dict(cpu_jobs or {})}

    def placements(self, jobs: list[tuple[int, Sequence[str]]]) -> list[tuple[dict, int, list]]:
        """(Slurm parameters, runs per job, the jobs) per kind of resource the sweep needs."""
        if not self.params.get("gpus_per_node"):
            return [(self.params, self.runs_per_job, jobs)]
        on_cpu = [job for job in jobs if model_of(job[1]) in CPU_ONLY]
        on_gpu = [job for job in jobs if model_of(job[1]) not in CPU_ONLY]
        return [(params, per_job, group) for params, per_job, group in
                ((self.cpu_params, 1, on_cpu), (self.params, self.runs_per_job, on_gpu)) if group]

    def launch(self, job_overrides, initial_job_idx):
        numbered = list(enumerate(job_overrides, initial_job_idx))
        nodes = slurm_nodes()
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        placed = self.placements(numbered)
        for params, _, _ in placed:
            check_request(params, nodes)
        returns: dict[int, JobReturn] = {}
        for params, per_job, group in placed:
            executor = self.executor(params)
            for index, overrides in group:
                log.info("\t#%d : %s%s", index, " ".join(filter_overrides(overrides)),
                         "" if params is self.params else " (CPU resources: hydra.launcher.cpu_jobs)")
            calls = [(list(o), "hydra.sweep.dir", i, f"job_id_for_{i}", Singleton.get_state()) for i, o in group]
            if per_job == 1:
                jobs = executor.map_array(self, *zip(*calls))
                returns.update((i, job.results()[0]) for (i, _), job in zip(group, jobs))
                continue
            packs = [PackedRuns(self, calls[start:start + per_job]) for start in range(0, len(calls), per_job)]
            with executor.batch():
                jobs = [executor.submit(pack) for pack in packs]
            results = [result for job in jobs for result in job.results()[0]]
            returns.update((i, result) for (i, _), result in zip(group, results))
        return [returns[i] for i, _ in numbered]

    def executor(self, params: dict) -> Any:
        """submitit's Slurm executor with these parameters (as submitit's launcher builds it)."""
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
        from omegaconf import OmegaConf

        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=params["submitit_folder"],
                                         slurm_max_num_timeout=params["max_num_timeout"])
        known = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{key if key in known else f"{self._EXECUTOR}_{key}": value
                                      for key, value in params.items()
                                      if key not in ("submitit_folder", "max_num_timeout")})
        return executor
