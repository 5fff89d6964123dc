"""Which runs a table needs: the jobs of an experiment sweep (conf/experiment/<table>.yaml).

A table's jobs are `hydra.sweeper.params` (a cartesian product, as Hydra's basic sweeper) times the
union of `hydra.sweeper.cells` (one product per entry, for tables that are not one product: Table 8
only has K <= C, Table 3 sweeps lambda for MixNAM alone) times the replicates of each job's dataset
protocol (`dataset.splits` folds x `dataset.seeds` seeds, at most the profile's `max_replicates`
each). The sweeper (hydra_plugins.mixnam_sweeper) launches these jobs, and the reports expand the
same list to know which records a table needs and which are missing, so the two cannot disagree.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable, Iterable, Mapping

from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # the Hydra config tree of the checkout
Compose = Callable[[list[str]], DictConfig]
REPLICATE_KEYS = ("split", "seed")
PROTOCOL_KEYS = ("dataset", "max_replicates", "profile")  # all that decides a job's folds and seeds


def key_of(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def product(params: Mapping[str, object] | Iterable[str]) -> list[list[str]]:
    """Hydra's basic-sweeper expansion of `{key: "a,b"}` (or `key=a,b` strings) into override lists."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    strings = [f"{k}={v}" for k, v in params.items()] if isinstance(params, Mapping) else list(params)
    if not strings:
        return [[]]
    [jobs] = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(strings), None)
    return jobs


def replicates(cfg: DictConfig) -> tuple[range, range]:
    """(splits, seeds) of the dataset's protocol, each capped by the profile's `max_replicates`."""
    cap = cfg.get("max_replicates") or None
    n_splits, n_seeds = int(cfg.dataset.splits), int(cfg.dataset.seeds)
    return range(min(n_splits, cap or n_splits)), range(min(n_seeds, cap or n_seeds))


def _agree(job: list[str], cell: list[str]) -> bool:
    """A key set both by the sweep (e.g. the command line) and by a cell selects the cells that match."""
    values = {key_of(o): o.split("=", 1)[1] for o in job}
    return all(values.get(key_of(o), value) == value for o in cell for value in [o.split("=", 1)[1]])


def expand(jobs: Iterable[list[str]], cells: Iterable[Mapping[str, object]], compose: Compose) -> list[list[str]]:
    """Every job x every matching cell x its dataset's replicates; a job that sets split or seed keeps it.

    The protocol depends on the dataset and profile alone, so one composition serves all jobs that
    share them (composing a config takes a tenth of a second).
    """
    cell_jobs = [c for cell in cells for c in product(cell)] or [[]]
    protocols: dict[tuple[str, ...], tuple[range, range]] = {}
    expanded = []
    for job in jobs:
        for cell in cell_jobs:
            if not _agree(job, cell):
                continue
            overrides = job + [o for o in cell if key_of(o) not in {key_of(j) for j in job}]
            given = {key_of(o) for o in overrides}
            protocol = tuple(o for o in overrides if key_of(o).split(".")[0] in PROTOCOL_KEYS)
            if protocol not in protocols:
                protocols[protocol] = replicates(compose(list(protocol)))
            ranges = [[None] if key in given else values for key, values in zip(REPLICATE_KEYS, protocols[protocol])]
            for pair in itertools.product(*ranges):
                expanded.append(overrides + [f"{k}={v}" for k, v in zip(REPLICATE_KEYS, pair) if v is not None])
    return expanded
