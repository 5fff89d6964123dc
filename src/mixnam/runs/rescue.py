"""Where results go: checked before any work, and never lost when the final write fails.

A read-only runs directory used to be discovered after a full fit, and the fit was lost. Now
`check_runs_dir` proves the directory exists (or can be made), is a directory, takes a real file
and has room, before data are loaded. If writing the record still fails at the end (the disk filled
up meanwhile), `write_record_or_rescue` writes it to a rescue directory, says where, and raises
`OutputError` so the process exits non-zero; nothing a rerun would take as finished is left behind
(records are written atomically, so the failed write leaves no file at the record's path).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mixnam.errors import OutputError
from mixnam.runs.records import write_json_atomic

MIN_FREE_BYTES = 16 << 20  # a record is kilobytes; checkpoints of the paper's models a few MiB
RESCUE_ENV = "MIXNAM_RESCUE_DIR"


def check_runs_dir(runs_dir: str | Path, key: str = "paths.runs_dir") -> Path:
    """The runs directory, created if needed; `OutputError` naming the key and the fix if it is unusable."""
    path = Path(runs_dir)
    fix = f"Choose a writable directory with {key}=/some/writable/dir"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{key}={path} cannot hold records: {existing} is a file, not a directory. {fix}, or "
                          f"move that file away.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".write-probe-") as probe:  # root bypasses modes, not ro mounts
            probe.write(b"probe")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise OutputError(f"{key}={path} is not writable ({error.strerror or error}): a finished run could not be "
                          f"recorded there. {fix}, or remount it read-write.") from None
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        raise OutputError(f"{key}={path} has only {free >> 20} MiB free; a run needs at least "
                          f"{MIN_FREE_BYTES >> 20} MiB for its record and checkpoints. Free some space, or choose "
                          f"a writable directory on another disk with {key}=/some/writable/dir.")
    return path


def rescue_dir() -> Path:
    return Path(os.environ.get(RESCUE_ENV) or Path(tempfile.gettempdir()) / "mixnam-rescued")


def write_record_or_rescue(path: Path, record: dict) -> None:
    """Write the record atomically; if that fails, keep it in the rescue directory and raise `OutputError`."""
    try:
        write_json_atomic(path, record)
        return
    except OSError as error:
        problem = f"could not write the record {path} ({type(error).__name__}: {error.strerror or error})"
    rescued = rescue_dir() / path.relative_to(path.parents[3]) if len(path.parents) > 3 else rescue_dir() / path.name
    try:
        write_json_atomic(rescued, record)
    except OSError as error:
        raise OutputError(f"{problem}, nor a rescue copy {rescued} ({error.strerror or error}). The run's "
                          f"{record.get('status')} record was lost; free space and rerun it.") from None
    raise OutputError(f"{problem}. The {record.get('status')} record was written to {rescued} instead; nothing at "
                      f"{path} claims the run is finished. Free space there and move the file to {path} (the run "
                      f"then counts as done), or rerun it.")
