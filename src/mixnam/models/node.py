"""NODE, NODE-GAM and NODE-GA2M baselines from the `nodegam` package (optional extra `node`).

The model config uses the hyper-parameter names of NODE-GAM's `main.py` (the names in its published
`best_hparams` files), so the architecture is built by the package's own
`{ODST,GAM,GAMAtt}Block.load_model_by_hparams` and tuned settings copy over verbatim. The training
loop follows that `main.py`: QHAdam, learning-rate warm-up, an average of the last 5 checkpoints
evaluated every `report_frequency` steps, learning-rate decay by 5x after `lr_decay_steps` without
improvement, and early stopping after `early_stopping_rounds` steps without improvement (counted
from the end of temperature annealing for the GAMs). Differences: data and the validation split come
from the harness (already quantile-normalised), the validation metric is the harness's, training is
fp32, and `trainer.max_epochs` (set by `profile=smoke`) caps the steps at that many epochs. `profile=smoke`
also caps the trees per layer (`budget_caps`, `mixnam.models.budget`): the published Credit model
(3 layers x 1,333 trees) needs more than 24 GiB of RAM on a CPU; NODE-GAM trained it on GPUs.
Checkpoints live in a temporary folder inside the run directory, removed after the fit.

NODE-GAM / NODE-GA2M are additive: `contributions` uses the package's `run_with_additive_terms`.
`n_params` counts all parameters of the torch module.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mixnam.contracts import Arrays, FitSummary, Problem
from mixnam.devices import run_device
from mixnam.errors import MixnamError
from mixnam.models.library import AdditiveBaseline, library_kwargs

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install -e .[node]"


class MissingExtraError(MixnamError, ImportError):
    """An optional package is not installed; run.py prints the message without a traceback."""


def _import_nodegam():
    """Import the optional `nodegam` package (quietly: it prints an apex warning on import)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import nodegam.arch
            import nodegam.trainer
            import nodegam.utils
    except ImportError as err:
        raise MissingExtraError(
            f"The NODE models (node, nodegam, nodega2m) need the optional package `nodegam`, "
            f"which is not installed ({err}). Install it with: {INSTALL_HINT}"
        ) from err
    return nodegam


class NodeBaseline:
    """One NODE-family model trained with NODE-GAM's step-based loop."""

    def __init__(self, problem: Problem, hparams: dict[str, Any], seed: int, device: str, run_dir: str | None,
                 max_epochs: int | None = None):
        self.nodegam = _import_nodegam()
        self.problem = problem
        self.task = problem.task
        self.feature_names = problem.feature_names
        self.args = Namespace(**hparams, in_features=problem.n_features, num_classes=1, problem=problem.task)
        self.seed = seed
        self.device = device
        self.run_dir = run_dir
        self.max_epochs = max_epochs
        self.model = None

    def _max_steps(self, n_train: int) -> float:
        """`max_rounds` (<= 0: unlimited), capped by `trainer.max_epochs` epochs when that is set (smoke runs)."""
        steps = self.args.max_rounds if self.args.max_rounds > 0 else float("inf")
        if self.max_epochs:
            steps = min(steps, self.max_epochs * -(-n_train // self.args.batch_size))
        return steps

    def _margin(self, X: np.ndarray, fn=None) -> torch.Tensor:
        self.model.train(False)
        with torch.no_grad():
            X = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)
            return self.nodegam.utils.process_in_chunks(fn or self.model, X, batch_size=2 * self.args.batch_size)

    def predict(self, X: np.ndarray) -> np.ndarray:
        margin = self._margin(X).cpu().numpy().astype(np.float64)
        return 1.0 / (1.0 + np.exp(-margin)) if self.task == "classification" else margin

    def _better(self, score: float, best: float | None) -> bool:
        return best is None or (score > best if self.problem.higher_is_better else score < best)

    def fit(self, train: Arrays, val: Arrays) -> FitSummary:
        ng, args = self.nodegam, self.args
        ng.utils.seed_everything(self.seed)
        block = getattr(ng.arch, f"{args.arch}Block")
        self.model, step_callbacks = block.load_model_by_hparams(args, ret_step_callback=True)
        if self.task == "classification" and getattr(args, "init_bias", True):
            self.model.set_bias(train.y)
        self.model.to(self.device)

        from qhoptim.pyt import QHAdam  # a dependency of nodegam

        if self.run_dir:
            Path(self.run_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.run_dir, prefix="node_ckpt_") as ckpt_dir:
            trainer = ng.trainer.Trainer(
                model=self.model, experiment_name=ckpt_dir, warm_start=False, Optimizer=QHAdam,
                optimizer_params={"nus": (0.7, 1.0), "betas": (0.95, 0.998)}, lr=args.lr,
                lr_warmup_steps=args.lr_warmup_steps, verbose=False, n_last_checkpoints=5,
                step_callbacks=step_callbacks, fp16=0, problem=self.task,
            )
            with torch.no_grad():  # data-aware initialisation of the trees
                self.model(torch.as_tensor(train.X[: 2 * args.batch_size], device=self.device))

            best, best_step, lr_decay_step, start = None, 0, 0, time.time()
            max_steps = self._max_steps(len(train.y))
            batches = ng.utils.iterate_minibatches(
                train.X, train.y.astype(np.float32), batch_size=args.batch_size, shuffle=True, epochs=float("inf")
            )
            for batch in batches:
                trainer.train_on_batch(*batch, device=self.device)
                step = trainer.step
                out_of_budget = step >= max_steps or time.time() - start > args.max_time
                if step % args.report_frequency == 0 or out_of_budget:
                    trainer.save_checkpoint()
                    trainer.remove_old_temp_checkpoints()
                    trainer.average_checkpoints(out_tag="avg")
                    trainer.load_checkpoint(tag="avg")
                    score = self.problem.primary(val.y, self.predict(val.X))
                    if self._better(score, best):
                        best, best_step = score, step
                        trainer.save_checkpoint(tag="best")
                    trainer.load_checkpoint()  # back to the last weights
                    log.info("%s step %d/%s: validation %s %.4f, best %.4f (step %d), %.2f s/step", args.arch, step,
                             "∞" if max_steps == float("inf") else int(max_steps), self.problem.metric, score, best,
                             best_step, (time.time() - start) / step)
                if out_of_budget or step > max(best_step, args.anneal_steps) + args.early_stopping_rounds:
                    break
                if 0 < args.lr_decay_steps < step - max(best_step, lr_decay_step):
                    trainer.decrease_lr(ratio=0.2, min_lr=1e-6)
                    lr_decay_step = step
            trainer.load_checkpoint(tag="best")
        self.model.train(False)
        return FitSummary(
            best_epoch=best_step, epochs_run=step,
            extra={"epoch_unit": "optimisation step", "best_val": best, "batch_size": args.batch_size},
        )

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


class NodeGAMBaseline(NodeBaseline, AdditiveBaseline):
    """NODE-GAM / NODE-GA2M: the trees' outputs grouped into main and pairwise terms.

    Terms are reported as one main term per feature (zero where no tree uses the feature alone)
    followed by the pairs the model learned, whatever order the package finds them in.
    """

    def _model_terms(self) -> list[tuple[int, ...]]:
        return [(t,) if isinstance(t, int) else tuple(int(i) for i in t) for t in self.model.get_additive_terms()]

    @property
    def term_features(self) -> list[tuple[int, ...]]:
        pairs = [t for t in self._model_terms() if len(t) == 2]
        return [(i,) for i in range(len(self.feature_names))] + pairs

    @property
    def intercept(self) -> float:
        return float(self.model.bias.detach().cpu())

    def contributions(self, X: np.ndarray) -> np.ndarray:
        raw = self._margin(X, self.model.run_with_additive_terms)[..., 0].cpu().numpy()  # (rows, model terms)
        column = {features: j for j, features in enumerate(self.term_features)}
        out = np.zeros((len(raw), len(column)))
        for k, features in enumerate(self._model_terms()):
            out[:, column[features]] += raw[:, k]
        return out


def build(cfg: DictConfig, problem: Problem) -> NodeBaseline:
    hparams = library_kwargs(cfg)
    cls = NodeBaseline if hparams["arch"] == "ODST" else NodeGAMBaseline
    return cls(problem, hparams, seed=cfg.seed, device=run_device(str(OmegaConf.select(cfg, "trainer.accelerator", default="auto"))), run_dir=OmegaConf.select(cfg, "run_dir"),
               max_epochs=OmegaConf.select(cfg, "trainer.max_epochs", default=None))
