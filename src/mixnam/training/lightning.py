"""One LightningModule trains every neural model; `build(cfg, problem)` wraps it as an `Estimator`.

The protocol of paper Appendix B and the authors' code: AdamW, cosine annealing of the learning rate
over the epoch budget, validation every epoch on the dataset's metric in original units, early
stopping after a quarter of the budget without improvement, and the best-validation weights used
for test. Fitted without a validation part (the estimators on small tables), it trains for the whole
budget and keeps the last epoch's weights, where the cosine schedule has annealed the learning rate. Loss = MSE (standardised target) or BCE with logits, plus the model's own penalty.

Batches are slices of tensors already in memory (`TensorBatches`): one permutation per epoch, no
per-row Dataset. The best weights are written atomically to `<run_dir>/best.pt`; a resumable
Lightning checkpoint `<run_dir>/last.ckpt` is refreshed every `trainer.checkpoint_every_n_epochs`
epochs and picked up when the run is started again with `resume=true`; it holds the random streams
too, so the resumed run ends where an uninterrupted one would.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, EarlyStopping
from omegaconf import DictConfig, OmegaConf

from mixnam.contracts import Arrays, FitSummary, Problem
from mixnam.devices import (
    check_one_device,
    lightning_accelerator,
    process_state_restored,
    run_device,
)
from mixnam.errors import ConfigError, Interrupted
from mixnam.interrupts import signals_held
from mixnam.models.base import AdditiveModel, NeuralModel
from mixnam.models.mixnam import MixNAM
from mixnam.models.mlp import MLP
from mixnam.models.nam import NAM
from mixnam.models.nbm import NBM
from mixnam.training.constraints import build_constraint
from mixnam.training.fidelity import (
    check_selection,
    monitor_name,
    patience,
    selection_score,
)
from mixnam.training.progress import (
    LogProgress,
    on_terminal,
    quiet_lightning,
    run_label,
)
from mixnam.training.resources import check_precision, run_threads

# The model name picks the class; the variants differ only in their config (routing, pairs, ...).
MODEL_CLASSES: dict[str, type[NeuralModel]] = {
    "mixnam": MixNAM, "mixnam_d": MixNAM, "mixnam_e": MixNAM,
    "nam": NAM, "na2m": NAM, "nbm": NBM, "nb2m": NBM, "mlp": MLP,
}
# Keys of a model config that steer training rather than the architecture.
TRAINING_KEYS = ("name", "batch_size", "lr", "weight_decay", "max_epochs")
PREDICT_BATCH = 8192


def build_model(model_cfg: DictConfig | dict, n_features: int, fidelity: DictConfig | dict | None = None) -> NeuralModel:
    """The torch module named by `model_cfg.name`, built from the config's architecture keys and the
    `fidelity` switches its class takes (`FIDELITY_KEYS`; absent or null: the paper's, the defaults)."""
    options = OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else dict(model_cfg)
    architecture = {k: v for k, v in options.items() if k not in TRAINING_KEYS}
    model_class = MODEL_CLASSES[options["name"]]
    switches = {k: fidelity[k] for k in model_class.FIDELITY_KEYS if fidelity and fidelity.get(k) is not None}
    return model_class(n_features, **architecture, **switches)


class TensorBatches:
    """Mini-batches sliced from in-memory tensors, reshuffled every epoch when `seed` is given.

    A trailing batch of a single row joins the one before it: batch norm cannot normalise one row.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int | None = None):
        self.X, self.y, self.batch_size = X, y, batch_size
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)
        starts = list(range(0, len(X), batch_size))
        if len(starts) > 1 and len(X) - starts[-1] < 2:
            starts.pop()
        self.bounds = list(zip(starts, starts[1:] + [len(X)]))

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.generator is None:
            for start, stop in self.bounds:
                yield self.X[start:stop], self.y[start:stop]
            return
        order = torch.randperm(len(self.X), generator=self.generator).to(self.X.device)
        for start, stop in self.bounds:
            rows = order[start:stop]
            yield self.X[rows], self.y[rows]


def to_model_units(logits: torch.Tensor, task: str) -> np.ndarray:
    """Logits -> the estimator's prediction units: the standardised target, or P(y = 1)."""
    logits = logits.detach().float()
    return (torch.sigmoid(logits) if task == "classification" else logits).cpu().numpy().astype(np.float64)


class NeuralTrainingModule(L.LightningModule):
    """Trains any `NeuralModel`: task loss + model penalty; logs the validation metric every epoch."""

    def __init__(self, model: NeuralModel, problem: Problem, lr: float, weight_decay: float, max_epochs: int,
                 compile_model: bool = False, selection: str = "metric", constraint: torch.nn.Module | None = None):
        super().__init__()
        check_selection(selection)
        self.model, self.problem, self.selection, self.constraint = model, problem, selection, constraint
        self.lr, self.weight_decay, self.max_epochs = lr, weight_decay, max_epochs
        self.monitor = monitor_name(problem, selection)
        self.task_loss = F.mse_loss if problem.task == "regression" else F.binary_cross_entropy_with_logits
        # trainer.compile: the whole step's loss (forward, task loss, penalty) as one graph, and the forward pass
        self.forward_details = torch.compile(model.forward_details) if compile_model else model.forward_details
        self.step_loss = torch.compile(self.loss) if compile_model else self.loss
        self._val_logits: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []
        # the epoch's summed training loss, kept on the device: reading it every batch would wait for the GPU
        self._loss_sum: torch.Tensor | None = None
        self._n_batches = 0

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Eq. 8: the task loss plus the model's own penalty."""
        details = self.model.forward_details(x)
        return self.task_loss(details.logit.float(), y) + self.model.penalty(details)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.step_loss(x, y)
        if self.constraint is not None:  # explanation constraint (issue 15)
            loss = loss + self.constraint(self.model, x)
        # a run resumed from a checkpoint written mid-epoch (on a signal) starts past batch 0
        first = batch_idx == 0 or self._loss_sum is None
        self._loss_sum = loss.detach() if first else self._loss_sum + loss.detach()
        self._n_batches = 1 if first else self._n_batches + 1
        return loss

    def _log_training_loss(self) -> None:
        """The epoch's mean training loss; a NaN/inf loss stops the run, naming the epoch."""
        if self._loss_sum is None:  # no training batch ran in this epoch (resumed at its very end)
            return
        loss = (self._loss_sum / self._n_batches).item()
        self._loss_sum = None
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"training loss became {loss} at epoch {self.current_epoch + 1}; the model diverged: lower model.lr "
                "or check the inputs for NaN/inf")
        self.log("loss", loss, prog_bar=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self._val_logits.append(self.forward_details(x).logit)
        self._val_targets.append(y)

    def on_train_epoch_end(self) -> None:
        self._log_training_loss()  # already logged beside the validation score when there is a validation part

    def on_validation_epoch_end(self) -> None:
        self._log_training_loss()
        logits = torch.cat(self._val_logits)
        targets = torch.cat(self._val_targets).cpu().numpy()
        self._val_logits.clear()
        self._val_targets.clear()
        if not torch.isfinite(logits).all():
            raise FloatingPointError(f"validation predictions contain NaN/inf at epoch {self.current_epoch + 1}; "
                                     "the model diverged: lower model.lr")
        score = selection_score(self.problem, targets, to_model_units(logits, self.problem.task), self.selection)
        self.log(self.monitor, score, prog_bar=True)

    def configure_optimizers(self) -> dict[str, Any]:
        # fused: one kernel updates every parameter (the same AdamW arithmetic, not a loop over tensors)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay, fused=True)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def _replace_atomically(write, path: Path) -> None:
    """Write through `write(tmp_path)` next to `path`, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class BestCheckpoint(Callback):
    """Tracks the best validation score; saves its weights to best.pt and a resumable last.ckpt."""

    def __init__(self, run_dir: Path, monitor: str, higher_is_better: bool, last_every_n_epochs: int):
        self.best_path, self.last_path = run_dir / "best.pt", run_dir / "last.ckpt"
        self.monitor, self.higher_is_better = monitor, higher_is_better
        self.last_every_n_epochs = last_every_n_epochs
        self.best_score: float | None = None
        self.best_epoch: int | None = None  # 1-based: the number of epochs trained when it was best

    def _improves(self, score: float) -> bool:
        if self.best_score is None:
            return True
        return score > self.best_score if self.higher_is_better else score < self.best_score

    def on_validation_end(self, trainer: L.Trainer, pl_module: NeuralTrainingModule) -> None:
        if trainer.sanity_checking:
            return
        score = float(trainer.callback_metrics[self.monitor])
        epoch = trainer.current_epoch + 1
        if self._improves(score):
            self.best_score = score
            self.keep(pl_module, epoch)
        if epoch % self.last_every_n_epochs == 0:
            _replace_atomically(lambda tmp: trainer.save_checkpoint(tmp, weights_only=False), self.last_path)

    def keep(self, pl_module: NeuralTrainingModule, epoch: int) -> None:
        """Write these weights as the run's kept ones (the best so far; without validation, the last epoch's)."""
        self.best_epoch = epoch
        state = {k: v.detach().cpu() for k, v in pl_module.model.state_dict().items()}
        _replace_atomically(lambda tmp: torch.save(state, tmp), self.best_path)

    def on_exception(self, trainer: L.Trainer, pl_module: NeuralTrainingModule, exception: BaseException) -> None:
        """A signal mid-run: write last.ckpt on the way out and tell the record where training was."""
        if isinstance(exception, Interrupted):
            with signals_held():
                _replace_atomically(lambda tmp: trainer.save_checkpoint(tmp, weights_only=False), self.last_path)
            exception.epoch, exception.max_epochs = trainer.current_epoch + 1, trainer.max_epochs
            exception.checkpoint = str(self.last_path)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score, self.best_epoch = state_dict["best_score"], state_dict["best_epoch"]


class RandomState(Callback):
    """Keeps the random streams in last.ckpt, so a resumed run draws the batches and dropout masks
    that the uninterrupted run would have drawn (Lightning restores weights, optimizer and scheduler
    but not these). Only the run's own device: a CPU run never initialises CUDA to save it, and a run
    resumed where fewer GPUs are visible restores into the one it trains on."""

    def __init__(self, batches: TensorBatches, device: torch.device):
        self.batches, self.device = batches, device

    def state_dict(self) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state(), "batches": self.batches.generator.get_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        self.batches.generator.set_state(state_dict["batches"])
        if self.device.type == "cuda" and "cuda" in state_dict:
            saved = state_dict["cuda"]  # checkpoints of earlier versions kept a list, one state per visible GPU
            torch.cuda.set_rng_state(saved[0] if isinstance(saved, (list, tuple)) else saved, self.device)


class FitTime(Callback):
    """The seconds the fit has taken over every process that trained it, kept in last.ckpt: a run
    finished with resume=true records what the whole run cost, not the last process's share."""

    def __init__(self, resuming: bool):
        # a resumed run learns the earlier seconds from its checkpoint; one written before they were kept: unknown
        self.earlier: float | None = None if resuming else 0.0
        self.started = time.perf_counter()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.earlier = state_dict["seconds"]

    def state_dict(self) -> dict[str, Any]:
        seconds = None if self.earlier is None else self.earlier + time.perf_counter() - self.started
        return {"seconds": seconds}


def make_logger(cfg: DictConfig, run_dir: Path, resuming: bool = False):
    """CSV metrics in the run directory, or W&B (offline unless the user logged in and set WANDB_MODE).

    A resumed run logs to `<run>/resumed-<k>/metrics.csv`, so the epochs logged before the
    interruption are kept, not overwritten."""
    if cfg.logger.name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        version = f"resumed-{len(list(run_dir.glob('resumed-*'))) + 1}" if resuming else ""
        return CSVLogger(save_dir=run_dir, name="", version=version)
    if cfg.logger.name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        return WandbLogger(project=cfg.logger.project, mode=cfg.logger.mode, save_dir=str(run_dir),
                           name=f"{cfg.dataset.name}-{cfg.model.name}-split{cfg.split}-seed{cfg.seed}",
                           group=cfg.experiment_name,
                           config={"dataset": cfg.dataset.name, "split": cfg.split, "seed": cfg.seed,
                                   **{key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("model", "trainer")}})
    raise ConfigError(f"unknown logger {cfg.logger.name!r}; use logger=csv or logger=wandb")


def make_trainer(trainer_cfg: DictConfig, max_epochs: int, best: BestCheckpoint, logger, train_batches: TensorBatches,
                 device: torch.device, patience_extra_epochs: int = 0, run_name: str = "run",
                 validate: bool = True, *, fit_time: FitTime) -> L.Trainer:
    """A Lightning Trainer for the protocol: validation every epoch, early stopping, our own checkpoints
    (without `validate`: the whole budget, no stopping); the progress bar on a terminal, progress lines in
    a log (`mixnam.training.progress`)."""
    stopping = [EarlyStopping(monitor=best.monitor, mode="max" if best.higher_is_better else "min",
                              patience=patience(max_epochs, float(trainer_cfg.patience_fraction), patience_extra_epochs),
                              check_on_train_epoch_end=False)] if validate else []
    quiet_lightning()
    bar = bool(trainer_cfg.enable_progress_bar) and on_terminal()
    progress = [] if bar else [LogProgress(run_name, best.monitor, best, max_epochs, **trainer_cfg.log_progress)]
    return L.Trainer(
        max_epochs=max_epochs, accelerator=lightning_accelerator(device.type), devices=1,
        precision=trainer_cfg.precision, deterministic=trainer_cfg.deterministic, logger=logger,
        # stopping decides first, so `best`'s last.ckpt holds its up-to-date state
        callbacks=[*stopping, RandomState(train_batches, device), fit_time, best, *progress],
        enable_checkpointing=False, enable_progress_bar=bar, enable_model_summary=False,
        num_sanity_val_steps=0, log_every_n_steps=min(50, len(train_batches)))


class NeuralEstimator:
    """The `Estimator` of a neural model: fit with Lightning, predict in model units, explain additively."""

    def __init__(self, cfg: DictConfig, problem: Problem):
        self.cfg, self.problem = cfg, problem
        L.seed_everything(int(cfg.seed), verbose=False)
        self.precision = check_precision(cfg.trainer)
        self.fidelity = cfg.get("fidelity") or {}
        self.model = build_model(cfg.model, problem.n_features, self.fidelity)
        self.constraint = build_constraint(cfg, problem, self.model)
        check_one_device(cfg.trainer.get("devices", 1))
        self.device = torch.device(run_device(cfg.trainer.accelerator))

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def fit(self, train: Arrays, val: Arrays | None) -> FitSummary:
        """Train on `train`, early-stopping on `val` and keeping its best weights; `val=None`: the whole
        budget, keeping the last epoch's weights."""
        with process_state_restored():  # the next run of this process finds torch as this one found it
            return self._fit(train, val)

    def _fit(self, train: Arrays, val: Arrays | None) -> FitSummary:
        cfg, trainer_cfg = self.cfg, self.cfg.trainer
        if trainer_cfg.max_epochs is None:
            raise ConfigError(f"no epoch budget for {cfg.model.name}: set model.max_epochs or trainer.max_epochs")
        max_epochs = int(trainer_cfg.max_epochs)
        run_dir = Path(cfg.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.set_float32_matmul_precision(trainer_cfg.matmul_precision)
        torch.set_num_threads(run_threads(trainer_cfg.num_threads).threads)  # the run's, recorded by mixnam.experiment

        def tensors(part: Arrays) -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.as_tensor(part.X, dtype=torch.float32, device=self.device),
                    torch.as_tensor(part.y, dtype=torch.float32, device=self.device))

        batch_size = int(cfg.model.batch_size)
        train_batches = TensorBatches(*tensors(train), batch_size, seed=int(cfg.seed))
        val_batches = TensorBatches(*tensors(val), max(batch_size, PREDICT_BATCH)) if val is not None else None
        module = NeuralTrainingModule(self.model, self.problem, float(cfg.model.lr), float(cfg.model.weight_decay),
                                      max_epochs, bool(trainer_cfg.compile), self.fidelity.get("selection") or "metric",
                                      self.constraint)
        best = BestCheckpoint(run_dir, module.monitor, self.problem.higher_is_better,
                              int(trainer_cfg.checkpoint_every_n_epochs))
        resume_from = best.last_path if cfg.get("resume", False) and best.last_path.exists() else None
        fit_time = FitTime(resuming=resume_from is not None)
        trainer = make_trainer(trainer_cfg, max_epochs, best, make_logger(cfg, run_dir, resume_from is not None),
                               train_batches, self.device, self.fidelity.get("patience_extra_epochs") or 0,
                               run_name=run_label(cfg, run_dir), validate=val is not None, fit_time=fit_time)
        self.model.train()  # Lightning keeps the modes it finds; a predict() before fit leaves eval mode on
        try:
            trainer.fit(module, train_batches, val_batches, ckpt_path=resume_from)
        finally:
            if cfg.logger.name == "wandb":
                import wandb

                wandb.finish()
        if val_batches is None:
            best.keep(module, trainer.current_epoch)
        self.load_weights(best.best_path)
        return FitSummary(best_epoch=best.best_epoch, epochs_run=trainer.current_epoch, earlier_seconds=fit_time.earlier,
                          extra={"checkpoint": str(best.best_path), "stopped_early": trainer.current_epoch < max_epochs,
                                 "resumed": resume_from is not None, "precision": self.precision,
                                 "matmul_precision": str(trainer_cfg.matmul_precision)})

    def load_weights(self, path: str | Path) -> None:
        """The weights a fit saved (its best-validation `best.pt`), e.g. to explain a finished run."""
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    def _evaluate(self, fn, X: np.ndarray) -> torch.Tensor:
        """`fn` over `X` in eval mode and batches, on the training device; returns a CPU tensor."""
        self.model.to(self.device).eval()
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        with torch.no_grad():
            parts = [fn(X[i:i + PREDICT_BATCH].to(self.device)).float().cpu() for i in range(0, len(X), PREDICT_BATCH)]
        return torch.cat(parts)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return to_model_units(self._evaluate(self.model, X), self.problem.task)

    # The additive contract (as `mixnam.models.library.AdditiveBaseline`), for additive models only.
    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.problem.feature_names

    def _additive(self) -> AdditiveModel:
        if not isinstance(self.model, AdditiveModel):
            raise AttributeError(f"{type(self.model).__name__} is not additive: it has no per-term contributions")
        return self.model

    @property
    def term_features(self) -> list[tuple[int, ...]]:
        return list(self._additive().term_features)

    @property
    def term_names(self) -> list[str]:
        return [" x ".join(self.feature_names[i] for i in features) for features in self.term_features]

    @property
    def intercept(self) -> float:
        return self._additive().intercept.item()

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, terms) on the logit scale; their sum plus `intercept` is the logit of `predict`."""
        return self._evaluate(self._additive().contributions, X).double().numpy()


def build(cfg: DictConfig, problem: Problem) -> NeuralEstimator:
    """Registry entry for every neural model (see `mixnam.models`)."""
    return NeuralEstimator(cfg, problem)
