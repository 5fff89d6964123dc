"""Command-line guard rails: name the problem and the fix in one paragraph, not a traceback."""
from __future__ import annotations

import difflib
import logging
import os
import sys
from pathlib import Path

from mixnam.errors import MixnamError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
SWEEP_SYNTAX = ("range(", "choice(", "interval(", "tag(", "glob(", "int(", "float(", "${")
log = logging.getLogger("mixnam")


def debug_mode() -> bool:
    return bool(os.environ.get("HYDRA_FULL_ERROR") or os.environ.get("MIXNAM_DEBUG"))


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_overrides(argv: list[str], conf_dir: Path = CONF_DIR) -> None:
    """Reject unknown choices for config groups (model=, dataset=, ...) with the closest valid names."""
    for arg in argv:
        if arg.startswith(("-", "+", "~", "hydra")) or "=" not in arg:
            continue
        group, _, value = arg.partition("=")
        group_dir = conf_dir / group
        if not group_dir.is_dir() or any(token in value for token in SWEEP_SYNTAX) or value == "null":
            continue
        options = sorted(p.relative_to(group_dir).with_suffix("").as_posix() for p in group_dir.rglob("*.yaml"))
        for choice in value.split(","):
            if choice not in options:
                close = difflib.get_close_matches(choice, options, n=3)
                hint = f" Did you mean {' or '.join(close)}?" if close else ""
                fail(f"unknown {group} {choice!r}.{hint} Valid choices for {group}=: {', '.join(options)} "
                     f"(one file per choice in {group_dir}).")


def report_failure(error: Exception) -> None:
    """After a failed run (its `failed` record is written): continue a sweep, stop a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    explained = isinstance(error, (MixnamError, FloatingPointError))
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        log.error("run failed (recorded as failed; the sweep continues): %s: %s", type(error).__name__, error)
        return None
    if explained and not debug_mode():
        fail(str(error))
    raise error
