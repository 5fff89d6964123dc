"""Run records: one JSON file per run, written atomically; the source of truth for every table.

A record's place is `<runs_dir>/<experiment>/<dataset>/<model>/<split>-<seed>-<run_id>.json` and its
artifacts (checkpoints, plots, logs) live in the directory of the same name without `.json`.
`run_id` hashes the resolved config minus what does not change the result (paths, logging, flags),
so the same experiment is recognised across restarts and machines, and any changed
hyper-parameter gives a new record instead of overwriting an old one.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Keys that do not change what a run computes.
NON_RESULT_KEYS = ("paths", "logger", "force", "resume", "explain", "run_dir", "hydra")
NON_RESULT_SUBKEYS = {"data": ("mirror",), "trainer": ("enable_progress_bar", "log_progress",
                                                           "checkpoint_every_n_epochs")}


def result_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config restricted to what determines the result."""
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    for key in NON_RESULT_KEYS:
        resolved.pop(key, None)
    for key, subkeys in NON_RESULT_SUBKEYS.items():
        for subkey in subkeys:
            resolved.get(key, {}).pop(subkey, None)
    return resolved


def comparable(config: Any) -> Any:
    """A config without null values and empty sections: what two runs must share to be the same run.

    A new key whose default is null (an option that changes nothing unless set) thus leaves old
    records valid; they are still found, and skipped, after such a key is added."""
    if isinstance(config, dict):
        kept = {k: comparable(v) for k, v in config.items() if v is not None}
        return {k: v for k, v in kept.items() if v != {}}
    return config


def run_id(cfg: DictConfig) -> str:
    text = json.dumps(comparable(result_config(cfg)), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def record_path(cfg: DictConfig) -> Path:
    name = f"split{cfg.split}-seed{cfg.seed}-{run_id(cfg)}.json"
    return Path(cfg.paths.runs_dir) / cfg.experiment_name / cfg.dataset.name / cfg.model.name / name


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_record(path: Path) -> dict | None:
    """A record, or None if it is unreadable (never treat a damaged file as a finished run)."""
    try:
        with open(path) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_completed(path: Path) -> bool:
    record = read_record(path)
    return bool(record) and record.get("status") == "completed"


def find_completed(cfg: DictConfig) -> Path | None:
    """The completed record of this run: at its own path, or a sibling (same split and seed) whose
    config is the same run but was hashed before a null-default key existed."""
    path = record_path(cfg)
    if is_completed(path):
        return path
    wanted = json.loads(json.dumps(comparable(result_config(cfg)), default=str))
    for sibling in sorted(path.parent.glob(f"split{cfg.split}-seed{cfg.seed}-*.json")):
        record = read_record(sibling)
        if record and record.get("status") == "completed" and comparable(record.get("config")) == wanted:
            return sibling
    return None


def iter_records(runs_dir: str | Path):
    """Every readable record under `runs_dir` (temporary and damaged files are skipped)."""
    for path in sorted(Path(runs_dir).rglob("*.json")):
        if path.name.startswith("."):
            continue
        record = read_record(path)
        if record is not None and "status" in record:
            yield path, record


def git_commit(root: str | Path) -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment(root: str | Path, device: str = "cpu") -> dict[str, Any]:
    import torch

    env = {
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "hostname": platform.node(), "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "device": device, "git_commit": git_commit(root),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env
