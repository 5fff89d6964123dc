"""Hydra sweeper for the paper's experiments: `hydra/sweeper=protocol` (conf/hydra/sweeper/protocol.yaml).

Hydra only instantiates sweepers from the `hydra_plugins` namespace, hence this thin package; what the
jobs are is decided in `mixnam.sweeps`, which the reports share. Jobs whose completed record exists are
dropped here, before any launcher sees them: on a cluster each of them would otherwise take a queue
slot and a minute of Python start-up only to skip itself.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from mixnam.runs.records import find_completed
from mixnam.sweeps import expand

log = logging.getLogger(__name__)


class ProtocolSweeper(BasicSweeper):
    """The basic sweeper's product of `params`, times the union of `cells`, times each dataset's folds/seeds,
    less the jobs already finished (unless they say `force=true`)."""

    def __init__(self, max_batch_size: int | None = None, params: Mapping[str, str] | None = None,
                 cells: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.cells = list(cells or [])
        self.composed: set[tuple[str, ...]] = set()  # jobs whose config `is_finished` has already composed

    def compose(self, job: list[str]) -> DictConfig:
        return self.hydra_context.config_loader.load_sweep_config(self.config, job)

    def is_finished(self, job: list[str]) -> bool:
        """Whether the job's run has a completed record, judged on the config the job itself will see."""
        cfg = self.compose(job)
        self.composed.add(tuple(job))
        hydra_config = HydraConfig.instance()
        previous = hydra_config.cfg
        hydra_config.set_config(cfg)  # paths resolve through ${hydra:runtime.cwd}, as inside the job
        try:
            with open_dict(cfg):
                del cfg["hydra"]  # as in the job: Hydra hands the task its config without the hydra node
            return not cfg.force and find_completed(cfg) is not None
        finally:
            hydra_config.cfg = previous

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Hydra composes every job here once more before launching; a job `is_finished` composed has passed
        that check already (a smoke sweep spends a third of its config time on the repeat)."""
        super().validate_batch_is_legal([job for job in batch if tuple(job) not in self.composed])

    def split_arguments(self, overrides, max_batch_size):  # an instance method here: it composes configs
        [jobs] = BasicSweeper.split_arguments(overrides, None)
        jobs = expand(jobs, self.cells, self.compose)
        missing = [job for job in jobs if not self.is_finished(job)]
        log.info("sweep: %d of %d jobs have a completed record and are not launched (force=true reruns them); "
                 "launching %d", len(jobs) - len(missing), len(jobs), len(missing))
        return list(BasicSweeper.split_overrides_to_chunks(missing, max_batch_size)) if missing else []
