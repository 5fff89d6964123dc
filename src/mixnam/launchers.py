"""Pre-flight of `hydra/launcher=slurm`: one message with the alternative, never submitit's traceback.

Before a sweep is submitted: Slurm must be reachable (`sbatch` and `sinfo` on PATH), the partition
must exist, and what a task asks for (`hydra.launcher.cpus_per_task`, `mem_gb`, `gpus_per_node`,
`timeout_min`) must fit on one of its nodes as `sinfo` reports them; the launcher's own numbers must
be in range. Each problem names the key to change and `hydra/launcher=local` as the way to run here.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from mixnam.cli import fail
from mixnam.sweeps import CONF_DIR

LOCAL = "or run the sweep on this machine with hydra/launcher=local (hydra.launcher.n_jobs=N parallel jobs)"
SINFO_FORMAT = "%P|%c|%m|%G|%l"  # partition (default marked *), cpus per node, memory MB, gres, time limit


@dataclass(frozen=True)
class Partition:
    name: str
    default: bool
    cpus: int
    mem_mb: int
    gpus: int
    minutes: float  # inf: no limit


def minutes(limit: str) -> float:
    """Slurm's time format ([days-]hours:minutes:seconds, minutes[:seconds], infinite) in minutes."""
    if limit in ("infinite", "UNLIMITED", "n/a", ""):
        return float("inf")
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        hours, mins, secs = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, mins, secs = parts
    else:
        hours, (mins, secs) = 0, (parts + [0])[:2]
    return int(days or 0) * 1440 + hours * 60 + mins + secs / 60


def _number(text: str) -> int:
    match = re.match(r"\d+", text)
    return int(match.group()) if match else 0


def _gpus(gres: str) -> int:
    """`gpu:4`, `gpu:a100:4(S:0-1)`, `(null)` -> 4, 4, 0."""
    return sum(int(m.group(1)) for m in re.finditer(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def partitions() -> list[Partition]:
    """One entry per partition, the largest node of each (sinfo prints one line per kind of node)."""
    output = subprocess.run(["sinfo", "--noheader", f"--format={SINFO_FORMAT}"], capture_output=True, text=True,
                            timeout=30, check=True).stdout
    found: dict[str, Partition] = {}
    for line in output.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5:
            continue
        name, cpus, mem, gres, limit = fields
        default, name = name.endswith("*"), name.rstrip("*")
        node = Partition(name, default, _number(cpus), _number(mem), _gpus(gres), minutes(limit))
        best = found.get(name, node)
        found[name] = Partition(name, default or best.default, max(node.cpus, best.cpus),
                                max(node.mem_mb, best.mem_mb), max(node.gpus, best.gpus),
                                max(node.minutes, best.minutes))
    return list(found.values())


def launcher_settings(argv: list[str]) -> dict:
    """`hydra.launcher` as the command line composes it (only the hydra overrides matter here)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    overrides = [a for a in argv if a.startswith(("hydra/launcher=", "hydra.launcher."))]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    keys = ("partition", "cpus_per_task", "mem_gb", "gpus_per_node", "timeout_min", "max_num_timeout",
            "array_parallelism", "runs_per_job")
    settings = {key: OmegaConf.select(cfg, f"hydra.launcher.{key}", default=None) for key in keys}
    cpu_jobs = OmegaConf.select(cfg, "hydra.launcher.cpu_jobs", default=None)
    if settings["gpus_per_node"] and cpu_jobs is not None and sweep_is_cpu_only(argv):
        settings.update(OmegaConf.to_container(cpu_jobs, resolve=True))  # every job goes to the CPU resources
    return settings


def sweep_is_cpu_only(argv: list[str]) -> bool:
    """Whether the command names its models and all of them are CPU-only (their jobs ask for no GPU)."""
    from mixnam.models import CPU_ONLY

    named = [a.split("=", 1)[1] for a in argv if a.split("=", 1)[0] == "model"]
    return bool(named) and all(m.strip() in CPU_ONLY for value in named for m in value.split(","))


def resource_problems(wanted: dict, available: list[Partition]) -> list[str]:
    """What a task asks for that its partition cannot give, one sentence each with the key to change."""
    problems = [f"hydra.launcher.{key}={wanted[key]} must be an integer >= {low}"
                for key, low in (("cpus_per_task", 1), ("gpus_per_node", 0), ("timeout_min", 1),
                                 ("max_num_timeout", 0), ("array_parallelism", 1), ("runs_per_job", 1))
                if wanted.get(key) is not None and not (isinstance(wanted[key], int) and wanted[key] >= low)]
    if wanted.get("mem_gb") is not None and not (isinstance(wanted["mem_gb"], (int, float)) and wanted["mem_gb"] > 0):
        problems.append(f"hydra.launcher.mem_gb={wanted['mem_gb']} must be a number > 0")
    if problems:
        return problems
    name = wanted.get("partition")
    chosen = next((p for p in available if (p.name == name if name else p.default)), None)
    if chosen is None:
        names = ", ".join(p.name for p in available) or "none"
        return [f"hydra.launcher.partition={name} is not a partition of this cluster (sinfo lists: {names}); set "
                "hydra.launcher.partition= (or MIXNAM_SLURM_PARTITION) to one of them" if name else
                f"no partition was given and this cluster has no default one (partitions: {names}); set "
                "hydra.launcher.partition= (or MIXNAM_SLURM_PARTITION)"]
    where = f"partition {chosen.name}"
    checks = (("cpus_per_task", wanted.get("cpus_per_task") or 0, chosen.cpus, "CPUs per node"),
              ("mem_gb", wanted.get("mem_gb") or 0, chosen.mem_mb / 1024, "GB of memory per node"),
              ("gpus_per_node", wanted.get("gpus_per_node") or 0, chosen.gpus, "GPUs per node"),
              ("timeout_min", wanted.get("timeout_min") or 0, chosen.minutes, "minutes of time limit"))
    for key, asked, most, unit in checks:
        if asked > most:
            hint = " (and trainer=cpu)" if key == "gpus_per_node" else ""
            problems.append(f"hydra.launcher.{key}={asked} but {where} offers at most {most:g} {unit}; lower "
                            f"hydra.launcher.{key}{hint} or choose another partition with hydra.launcher.partition=")
    return problems


def check_launcher(argv: list[str]) -> None:
    """Stop before submitting when `hydra/launcher=slurm` cannot work here; nothing to do otherwise."""
    if "hydra/launcher=slurm" not in argv:
        return
    missing = [tool for tool in ("sbatch", "sinfo") if shutil.which(tool) is None]
    if missing:
        fail(f"hydra/launcher=slurm submits to Slurm, but {' and '.join(missing)} is not on PATH: this machine is "
             f"not a Slurm login node. Submit from one, {LOCAL}, or leave hydra/launcher out to run the jobs one "
             "after another.")
    try:
        available = partitions()
    except (OSError, subprocess.SubprocessError) as error:
        stderr = getattr(error, "stderr", "") or ""
        fail(f"hydra/launcher=slurm: `sinfo` could not reach the Slurm controller ({stderr.strip() or error}). "
             f"Check that slurmctld is up (scontrol ping), {LOCAL}.")
    problems = resource_problems(launcher_settings(argv), available)
    if problems:
        fail("hydra/launcher=slurm cannot run this sweep: " + "; ".join(problems) + f". Otherwise, {LOCAL}.")
