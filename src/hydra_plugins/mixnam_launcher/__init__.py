"""The Slurm launcher of `hydra/launcher=slurm|slurm_cpu`: submitit's, after a check of what the jobs ask for.

A request no node of the partition can meet (8 CPUs on a 2-core node, a GPU on a CPU partition) is
refused by sbatch with "Requested node configuration is not available", which names no setting, or,
on a cluster without `EnforcePartLimits`, waits as PENDING forever. Checked against `sinfo` before
anything is submitted, it fails at once with the launcher key to change.
"""
import re
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any, NamedTuple

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from mixnam.errors import ConfigError

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


class CheckedSlurmLauncher(SlurmLauncher):
    """submitit's Slurm launcher that refuses, before submitting, a job no node can run."""

    def launch(self, job_overrides, initial_job_idx):
        check_request(self.params, slurm_nodes())
        return super().launch(job_overrides, initial_job_idx)
