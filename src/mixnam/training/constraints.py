"""Explanation constraints (issue 15): tell training which reasons a model may not use.

`constraint=rrr` ("Right for the Right Reasons", Ross et al., 2017) adds to the loss
lambda_rrr * sum over the annotated features of (d/dx_i of the summed log-probabilities, or of the
prediction for regression)^2, averaged over the batch's rows like the task loss, so lambda keeps its
meaning at any batch size. It works for every neural model: the gradient comes from its own forward
pass of the bare model in eval mode (double backpropagation), independent of how the training step
computes its loss (compiled or fused), at the cost of one more forward/backward per step.

`constraint.router_exclude=[features]` (MixNAM family) is structural: the router blocks between those
features and every other are held at zero (`MixNAM.exclude_from_router`), so they enter additively.

Annotations name features for every row (`constraint.features=[...]`); per-row annotation columns
are not supported yet.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from mixnam.contracts import Problem
from mixnam.errors import ConfigError
from mixnam.models import NEURAL

CONSTRAINTS = ("none", "rrr")
MIXNAM_FAMILY = ("mixnam", "mixnam_d", "mixnam_e")


def feature_indices(names: Sequence[str], problem: Problem, key: str) -> list[int]:
    """Feature names -> column indices, or a ConfigError naming the unknown ones and the valid names."""
    unknown = [n for n in names if n not in problem.feature_names]
    if unknown:
        raise ConfigError(f"{key}={list(names)}: no feature(s) {unknown} in this dataset; its features are "
                          f"{list(problem.feature_names)}")
    return [problem.feature_names.index(n) for n in names]


class InputGradientPenalty(nn.Module):
    """lambda * mean over rows of the sum over annotated features of the squared input gradient."""

    def __init__(self, weight: float, annotated: Sequence[int], n_features: int, task: str):
        super().__init__()
        self.weight, self.task = weight, task
        mask = torch.zeros(n_features)
        mask[list(annotated)] = 1.0
        self.register_buffer("mask", mask)

    def explained(self, logit: Tensor) -> Tensor:
        """What the penalised gradient is of: the summed log-probabilities (both classes), or the prediction."""
        return F.logsigmoid(logit) + F.logsigmoid(-logit) if self.task == "classification" else logit

    def forward(self, model: nn.Module, x: Tensor) -> Tensor:
        """Through the model in eval mode: batch norm's batch statistics couple the rows, so the gradient of
        the summed output would not be each row's own input gradient (measured: an MLP kept leaning on the
        decoy); running statistics give exactly the per-row gradient that explanations measure."""
        x = x.detach().requires_grad_(True)
        was_training = model.training
        model.eval()
        try:
            (gradient,) = torch.autograd.grad(self.explained(model(x)).sum(), x, create_graph=True)
        finally:
            model.train(was_training)
        return self.weight * (gradient.pow(2) * self.mask.to(gradient)).sum(-1).mean()


def check_constraint(cfg: DictConfig) -> None:
    """Refuse a constraint the model cannot honour, before any data is loaded."""
    constraint = OmegaConf.select(cfg, "constraint", default=None)
    name = OmegaConf.select(cfg, "constraint.name", default=None) or "none"
    if name not in CONSTRAINTS:
        raise ConfigError(f"constraint={name}: use one of {', '.join(CONSTRAINTS)}")
    model = cfg.model.name
    if name == "rrr" and model not in NEURAL:
        raise ConfigError(f"constraint=rrr penalises input gradients, which {model} has none of; use a neural model "
                          f"({', '.join(NEURAL)}) or constraint=none")
    for key in ("features", "router_exclude"):
        value = (constraint or {}).get(key)
        if isinstance(value, str):  # a bare name would be read letter by letter
            raise ConfigError(f"constraint.{key}={value} is one name, not a list: write constraint.{key}=[{value}]")
    if name == "rrr" and not (constraint.get("features") or []):
        raise ConfigError("constraint=rrr needs the annotated features: constraint.features=[name, ...]")
    if name == "rrr" and not float(constraint.lambda_rrr) > 0:
        raise ConfigError(f"constraint.lambda_rrr={constraint.lambda_rrr} must be positive: it weighs the penalty "
                          "on the annotated features' input gradients (default 10)")
    if (constraint or {}).get("router_exclude") and model not in MIXNAM_FAMILY:
        raise ConfigError(f"constraint.router_exclude needs a router (the MixNAM family: {', '.join(MIXNAM_FAMILY)});"
                          f" {model} has none. Drop it, or use constraint=rrr for any neural model")


def build_constraint(cfg: DictConfig, problem: Problem, model: nn.Module) -> InputGradientPenalty | None:
    """Apply the structural constraint to `model` and return the loss term (None: nothing to add)."""
    check_constraint(cfg)
    constraint = OmegaConf.select(cfg, "constraint", default=None) or {}
    excluded = constraint.get("router_exclude") or []
    if excluded:
        model.exclude_from_router(feature_indices(excluded, problem, "constraint.router_exclude"))
    if constraint.get("name") != "rrr":
        return None
    annotated = feature_indices(constraint.features, problem, "constraint.features")
    return InputGradientPenalty(float(constraint.lambda_rrr), annotated, problem.n_features, problem.task)
