"""The training step as it was before the lean step (issue 10): the reference the new one is checked
against (tests/test_fast_step.py) and timed against (scripts/bench_models.py, variant "before").

Before, every block ran ReLU and `nn.Dropout` as separate modules (a float Bernoulli draw per unit,
then a mask multiply), and AdamW stepped parameter by parameter (`foreach=False`). `todays_layers`
turns a model into that form, sharing its parameters; the expert, feature and basis dropouts of
MixNAM, NAM and NBM act on (B, n, C)-sized tensors and keep the new mask.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from mixnam.models.layers import ReLUDropout


def todays_layers(model: nn.Module) -> nn.Module:
    """A copy of `model` whose ReLU + dropout blocks are the former nn.ReLU, nn.Dropout pair (same weights)."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, ReLUDropout):
                setattr(module, name, nn.Sequential(nn.ReLU(), nn.Dropout(child.p)))
    return model


def todays_optimizer(parameters, lr: float, weight_decay: float = 0.01) -> torch.optim.Optimizer:
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, foreach=False)
