"""Run records: one JSON file per run, written atomically; the source of truth for every table.

A record's place is `<runs_dir>/<experiment>/<dataset>/<model>/<split>-<seed>-<run_id>.json` and its
artifacts (checkpoints, plots, logs) live in the directory of the same name without `.json`.
Finished paper-budget records are also kept in the repository, under `<records_dir>/<profile>/` with the
same relative path (`results/records/`, see `mixnam.runs.keep`): a run found there is done too.
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

from mixnam.devices import cpu_model, device_description

# Keys that do not change what a run computes. Where it ran (the device, its threads) is not one: the same
# protocol in the same precision on a GPU is the same run, and its record names the hardware (`env`).
NON_RESULT_KEYS = ("paths", "logger", "force", "resume", "explain", "run_dir", "hydra")
NON_RESULT_SUBKEYS = {"data": ("mirror",), "trainer": ("enable_progress_bar", "log_progress",
                                                           "checkpoint_every_n_epochs", "accelerator", "num_threads")}


def result_part(config: dict[str, Any]) -> dict[str, Any]:
    """A resolved config (a dict, e.g. a record's `config`) without the keys that do not change the result."""
    kept = {k: v for k, v in config.items() if k not in NON_RESULT_KEYS}
    for key, subkeys in NON_RESULT_SUBKEYS.items():
        if isinstance(kept.get(key), dict):
            kept[key] = {k: v for k, v in kept[key].items() if k not in subkeys}
    return kept


def result_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config restricted to what determines the result."""
    return result_part(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False))


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


def relative_record_path(cfg: DictConfig) -> Path:
    """Where a run's record sits below a runs directory (and below a profile of the kept records)."""
    name = f"split{cfg.split}-seed{cfg.seed}-{run_id(cfg)}.json"
    return Path(cfg.experiment_name) / cfg.dataset.name / cfg.model.name / name


def record_path(cfg: DictConfig) -> Path:
    return Path(cfg.paths.runs_dir) / relative_record_path(cfg)


def kept_record_path(cfg: DictConfig) -> Path | None:
    """The run's place among the records kept in the repository (`paths.records_dir`), if configured."""
    records_dir = OmegaConf.select(cfg, "paths.records_dir", default=None)
    if not records_dir:
        return None  # normpath: `<runs>/../records` must not need the runs directory to exist
    return Path(os.path.normpath(records_dir)) / str(cfg.profile) / relative_record_path(cfg)


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
    """The completed record of this run, in the runs directory or among the records kept in the
    repository: at its own path, or a sibling (same split and seed) whose config is the same run but
    was hashed before a null-default key existed."""
    wanted = json.loads(json.dumps(comparable(result_config(cfg)), default=str))
    for path in filter(None, (record_path(cfg), kept_record_path(cfg))):
        if is_completed(path):
            return path
        for sibling in sorted(path.parent.glob(f"split{cfg.split}-seed{cfg.seed}-*.json")):
            record = read_record(sibling)
            if (record and record.get("status") == "completed"
                    and comparable(result_part(record.get("config") or {})) == wanted):
                return sibling
    return None


def iter_records(*dirs: str | Path):
    """Every readable record under the given directories (temporary and damaged files are skipped).

    A run present in several (a raw run and its copy kept in the repository) is yielded once: its
    completed copy, the newest one first."""
    found: dict[tuple, tuple[Path, dict]] = {}
    for directory in dirs:
        for path in sorted(Path(directory).rglob("*.json")):
            record = read_record(path) if not path.name.startswith(".") else None
            if record is None or "status" not in record:
                continue
            identity = tuple(record.get(k) for k in ("experiment", "profile", "dataset", "model", "split", "seed",
                                                      "run_id"))
            if identity not in found or _rank(record) > _rank(found[identity][1]):
                found[identity] = (path, record)
    yield from sorted(found.values(), key=lambda item: str(item[0]))


def _rank(record: dict) -> tuple[bool, str]:
    return record.get("status") == "completed", record.get("finished_at") or ""


# Record keys renamed since: a record written before issue 26 holds the binned reading of Eq. 12 as `tightness`
LEGACY_TIGHTNESS = {"tightness": "tightness_binned", "tightness_per_feature": "tightness_binned_per_feature",
                    "tightness_by_bins": "tightness_binned_by_bins"}


def upgraded(record: dict) -> dict:
    """A record as today's readers expect it: before issue 26 (no `tightness_reading`), `tightness` was the
    binned reading, so it is read as `tightness_binned` and the principal `tightness` is absent until the
    run's metrics are recomputed from its weights (`python -m mixnam.recompute`)."""
    block = record.get("interpretability")
    if not isinstance(block, dict) or "tightness" not in block or "tightness_reading" in block:
        return record
    renamed = {LEGACY_TIGHTNESS.get(k, k): v for k, v in block.items()}
    return {**record, "interpretability": renamed}


def fit_time(records: list[dict]) -> str:
    """The records' summed fit time in hours, and how many runs do not know theirs (a completed run
    resumed from a checkpoint written before checkpoints kept the fit's seconds), so a total that
    misses some never reads as complete."""
    unknown = sum(1 for r in records if r.get("fit_seconds") is None)
    hours = sum(r.get("fit_seconds") or 0 for r in records) / 3600
    return f"{hours:.2f} h in total" + (f" ({unknown} run{'s' if unknown > 1 else ''} not counted: "
                                         "resumed from a checkpoint that did not keep its fit time)" if unknown else "")


def git_commit(root: str | Path) -> str:
    """The commit the run's code is at: MIXNAM_GIT_COMMIT when a launcher states it (a copy of the tree on a GPU
    node, whose .git may be missing or older than the tree), else git's, `-dirty` with uncommitted changes."""
    if os.environ.get("MIXNAM_GIT_COMMIT"):
        return os.environ["MIXNAM_GIT_COMMIT"]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment(root: str | Path, accelerator: str = "cpu") -> dict[str, Any]:
    """Where a run ran: software, the CPU by name and, on a GPU, which one with its driver and CUDA."""
    import torch

    device = "cuda" if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available() else "cpu"
    return {
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "hostname": platform.node(), "cpu": platform.processor() or platform.machine(), "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(), "device": device, "git_commit": git_commit(root), **device_description(device),
    }
