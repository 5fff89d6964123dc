"""Training progress a person can follow where no progress bar can be drawn (Slurm, nohup, CI logs).

A bar redraws one terminal line; in a log file it is either absent or a smear of control characters,
so a 30-minute Slurm job showed nothing until it ended. Off a terminal the bar is replaced by a log
line at the first epoch, every `every_epochs` epochs or `every_seconds` seconds, and the last one:
run, epoch/max, mean training loss, validation metric, best so far and an estimate of the time left.
"""
from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
ADVERTISEMENT = "💡 Tip:"  # Lightning's suggestions to install its cloud products, printed on every fit


def on_terminal() -> bool:
    return sys.stderr.isatty()


def run_label(cfg, run_dir) -> str:
    """`dataset/model/<run dir>`: how every progress line names its run."""
    return f"{OmegaConf.select(cfg, 'dataset.name', default='data')}/{cfg.model.name}/{Path(run_dir).name}"


def duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class LogProgress(Callback):
    """Logs `run: epoch e/max, train loss, val <metric>, best (epoch), s/epoch, ETA` at a readable rate.

    The ETA assumes the full epoch budget; early stopping can only end the run sooner."""

    def __init__(self, run_name: str, monitor: str, best, max_epochs: int, every_epochs: int, every_seconds: float):
        self.run_name, self.monitor, self.best, self.max_epochs = run_name, monitor, best, max_epochs
        self.every_epochs, self.every_seconds = max(1, int(every_epochs)), float(every_seconds)
        self._loss_sum: torch.Tensor | float = 0.0
        self._batches = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = self.last_line = time.monotonic()
        self.first_epoch = trainer.current_epoch  # > 0 after resume=true: the rate counts this process's epochs

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._loss_sum, self._batches = 0.0, 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
                           ) -> None:
        self._loss_sum = self._loss_sum + outputs["loss"].detach()  # summed on the device: no sync per batch
        self._batches += 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch, now = trainer.current_epoch + 1, time.monotonic()
        due = (epoch == self.first_epoch + 1 or epoch % self.every_epochs == 0 or epoch >= self.max_epochs
               or now - self.last_line >= self.every_seconds)
        if not due:
            return
        self.last_line = now
        per_epoch = (now - self.started) / (epoch - self.first_epoch)
        score = trainer.callback_metrics.get(self.monitor)
        parts = [f"{self.run_name}: epoch {epoch}/{self.max_epochs}"]
        if self._batches:  # none when resumed from a checkpoint written at the epoch's very end
            parts.append(f"train loss {float(self._loss_sum) / self._batches:.4g}")
        if score is not None:
            parts.append(f"{self.monitor.replace('_', ' ')} {float(score):.4g}")
        if self.best.best_score is not None:
            parts.append(f"best {self.best.best_score:.4g} (epoch {self.best.best_epoch})")
        parts += [f"{per_epoch:.2f} s/epoch", f"ETA {duration(per_epoch * (self.max_epochs - epoch))}"]
        log.info(", ".join(parts))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch < self.max_epochs:
            log.info("%s: stopped early after epoch %d/%d (no improvement); best %.4g at epoch %s", self.run_name,
                     trainer.current_epoch, self.max_epochs, self.best.best_score or float("nan"), self.best.best_epoch)


def _not_an_advertisement(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(ADVERTISEMENT)


def quiet_lightning() -> None:
    """Each Lightning message once, without advertisements.

    `import lightning` gives its logger a console handler and lets it propagate too, so under Hydra (whose
    root handler writes the job log) every message was printed twice: the console handler goes when the
    root has one. The hint that `srun` exists on a machine with Slurm installed concerns multi-node
    Lightning, which the harness never uses (Slurm runs one process per job)."""
    lightning_logger = logging.getLogger("lightning")
    if logging.getLogger().hasHandlers():
        for handler in [h for h in lightning_logger.handlers if type(h) is logging.StreamHandler]:
            lightning_logger.removeHandler(handler)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _not_an_advertisement not in rank_zero.filters:
        rank_zero.addFilter(_not_an_advertisement)
    warnings.filterwarnings("ignore", message="The `srun` command is available on your system")
