"""Command-line guard rails: name the problem and the fix in one paragraph, not a traceback."""
from __future__ import annotations

import difflib
import logging
import os
import sys
from pathlib import Path

from mixnam.errors import Interrupted, MixnamError, OutputError, RunInProgress
from mixnam.sweeps import CONF_DIR

SWEEP_SYNTAX = ("range(", "choice(", "interval(", "tag(", "glob(", "int(", "float(", "${")
log = logging.getLogger("mixnam")


def debug_mode() -> bool:
    return bool(os.environ.get("HYDRA_FULL_ERROR") or os.environ.get("MIXNAM_DEBUG"))


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _group_options(group_dir: Path) -> list[str]:
    return sorted(p.relative_to(group_dir).with_suffix("").as_posix() for p in group_dir.rglob("*.yaml"))


def _suggest(value: str, options, what: str) -> str:
    close = difflib.get_close_matches(value, list(options), n=3)
    return f" Did you mean {' or '.join(close)}?" if close else ""


def _parses_as(value: str, example) -> bool:
    """Whether a command-line value can stand where the config has `example` (bool/int/float)."""
    if value in ("null", "None"):
        return True
    if isinstance(example, bool):
        return value.lower() in ("true", "false")
    try:
        (int if isinstance(example, int) else float)(value)
    except ValueError:
        return False
    return True


def check_overrides(argv: list[str], conf_dir: Path = CONF_DIR) -> None:
    """Reject unknown group choices, unknown keys and ill-typed values with the closest valid names."""
    group_overrides, value_overrides = [], []
    for arg in argv:
        if arg.startswith(("-", "+", "~", "hydra")) or "=" not in arg:
            continue
        key, _, value = arg.partition("=")
        if any(token in value for token in SWEEP_SYNTAX):
            continue
        group_dir = conf_dir / key
        if group_dir.is_dir():
            options = _group_options(group_dir)
            for choice in value.split(","):
                if choice != "null" and choice not in options:
                    fail(f"unknown {key} {choice!r}.{_suggest(choice, options, key)} Valid choices for {key}=: "
                         f"{', '.join(options)} (one file per choice in {group_dir}).")
            group_overrides.append(f"{key}={value.split(',')[0]}")
        else:
            value_overrides.append((key, value))
    if value_overrides:
        _check_keys(value_overrides, group_overrides, conf_dir)


def _check_keys(value_overrides, group_overrides, conf_dir: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import InterpolationResolutionError

    try:
        with initialize_config_dir(str(conf_dir), version_base="1.3"):
            cfg = compose("config", overrides=group_overrides)
    except HydraException:
        return  # Hydra itself reports what is wrong with the composition
    missing = object()
    for key, value in value_overrides:
        try:
            current = OmegaConf.select(cfg, key, default=missing, throw_on_missing=False)
        except InterpolationResolutionError:  # it exists: paths.* interpolate ${hydra:...}, set only inside a run
            continue
        if current is missing:
            parent_key, _, leaf = key.rpartition(".")
            parent = OmegaConf.select(cfg, parent_key, default=None) if parent_key else cfg
            siblings = [f"{parent_key}.{k}" if parent_key else k for k in parent] if parent is not None else []
            fail(f"unknown config key {key!r}.{_suggest(key, siblings, 'key')} Run `python run.py --cfg job` to "
                 f"see every key; prefix with + (+{key}={value}) only to add a new one on purpose.")
        if isinstance(current, (bool, int, float)) and not all(_parses_as(v, current) for v in value.split(",")):
            kind = type(current).__name__
            fail(f"{key}={value} has the wrong type: {key} expects {'an' if kind[0] in 'aeiou' else 'a'} {kind} "
                 f"(it is {current!r} now).")


def report_failure(error: BaseException) -> None:
    """After a failed run (its record is written): continue a sweep, stop a single run.

    A signal stops everything with 128 + its number, and a record that could not be written stops a
    sweep too (the next jobs would lose theirs), so the scheduler sees both as failures."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if isinstance(error, Interrupted):
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    explained = isinstance(error, (MixnamError, FloatingPointError))
    if HydraConfig.get().mode == RunMode.MULTIRUN and not isinstance(error, OutputError):
        outcome = "not started (another process owns it)" if isinstance(error, RunInProgress) else "failed"
        log.error("run %s; the sweep continues: %s: %s", outcome, type(error).__name__, error)
        return
    if explained and not debug_mode():
        fail(str(error))
    raise error
