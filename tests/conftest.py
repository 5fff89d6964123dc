"""Shared fixtures: real data through the mirror (CI has ../shared/data), a temp results tree."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mirror() -> str | None:
    """The dataset mirror; without one the loaders fall back to the canonical URLs (never a skip)."""
    value = os.environ.get("MIXNAM_DATA_MIRROR") or (str(DEFAULT_MIRROR) if DEFAULT_MIRROR.is_dir() else None)
    return value


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The project's own (ignored) cache, shared across tests so each file is fetched once."""
    return Path(os.environ.get("MIXNAM_DATA_DIR", ROOT / "data"))


# The files that take longest (seconds on CI's 2 cores, one process): scheduled first, so that with
# `make test`'s two workers (`--dist loadfile` hands out whole files in collection order) the last file
# to start is a short one and both workers finish together.
LONGEST_FIRST = ("test_slurm.py", "test_sweeps.py", "test_faults.py", "test_report.py", "test_estimators.py",
                 "test_explain.py", "test_explanation_reports.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order
