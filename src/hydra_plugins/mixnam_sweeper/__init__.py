"""Hydra sweeper for the paper's experiments: `hydra/sweeper=protocol` (conf/hydra/sweeper/protocol.yaml).

Hydra only instantiates sweepers from the `hydra_plugins` namespace, hence this thin package; what the
jobs are is decided in `mixnam.sweeps`, which the reports share.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from mixnam.sweeps import expand


class ProtocolSweeper(BasicSweeper):
    """The basic sweeper's product of `params`, times the union of `cells`, times each dataset's folds/seeds."""

    def __init__(self, max_batch_size: int | None = None, params: Mapping[str, str] | None = None,
                 cells: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.cells = list(cells or [])

    def split_arguments(self, overrides, max_batch_size):  # an instance method here: it composes configs
        [jobs] = BasicSweeper.split_arguments(overrides, None)
        jobs = expand(jobs, self.cells, lambda job: self.hydra_context.config_loader.load_sweep_config(self.config, job))
        return list(BasicSweeper.split_overrides_to_chunks(jobs, max_batch_size)) if jobs else []
