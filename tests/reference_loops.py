"""MixNAM written the plain way: a Python loop over per-feature `nn.Sequential` networks.

The reference the batched layers are checked against (tests/test_models.py), and variant (b) of
scripts/bench_models.py. Full routing and top-K softmax weights only; built from a batched model's
weights so both compute the same function.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from mixnam.models.layers import BatchedLinear, GroupBatchNorm, ReLUDropout
from mixnam.models.mixnam import MixNAM


class PooledBatchNorm(nn.BatchNorm1d):
    """One feature's share of `GroupBatchNorm`: one statistic over the batch and the hidden units."""

    def __init__(self):
        super().__init__(1)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.unsqueeze(1)).squeeze(1)


def _copy_norm(batched: nn.Module, feature: int) -> nn.Module:
    if isinstance(batched, GroupBatchNorm):
        norm = PooledBatchNorm()
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(norm, name).data.copy_(getattr(batched, name).data[feature:feature + 1])
        return norm
    if isinstance(batched, nn.LayerNorm):
        norm = nn.LayerNorm(batched.normalized_shape)
        norm.load_state_dict(batched.state_dict())
        return norm
    return nn.Identity()


def _linear(weight: Tensor, bias: Tensor) -> nn.Linear:
    """nn.Linear holding one group of a BatchedLinear ((in, out) weight, (1, out) bias)."""
    layer = nn.Linear(*weight.shape)
    layer.weight.data.copy_(weight.t())
    layer.bias.data.copy_(bias.reshape(-1))
    return layer


class LoopMixNAM(nn.Module):
    def __init__(self, model: MixNAM):
        super().__init__()
        if model.diagonal_routing or model.even_weights:
            raise ValueError("the loop reference covers full routing with softmax weights only")
        self.top_k, self.n_experts = model.top_k, model.n_experts
        self.encoders = nn.ModuleList()
        for feature in range(model.n_features):
            layers = []
            for block in model.encoder:
                if isinstance(block, BatchedLinear):
                    layers.append(_linear(block.weight.data[feature], block.bias.data[feature]))
                elif isinstance(block, ReLUDropout):
                    layers += [nn.ReLU(), nn.Dropout(block.p)]
                else:
                    layers.append(_copy_norm(block, feature))
            self.encoders.append(nn.Sequential(*layers))
        expert_layer = model.expert_layer
        self.experts = nn.ModuleList(_linear(expert_layer.weight.data[i], expert_layer.bias.data[i])
                                     for i in range(model.n_features))
        self.router = nn.Linear(model.router.in_features, model.router.out_features)
        self.router.load_state_dict(model.router.state_dict())
        self.intercept = nn.Parameter(model.intercept.data.clone())

    def forward(self, x: Tensor) -> Tensor:
        latents = [encoder(x[:, i:i + 1]) for i, encoder in enumerate(self.encoders)]
        outputs = torch.stack([expert(z) for expert, z in zip(self.experts, latents)], dim=1)  # (B, n, C)
        scores = self.router(torch.cat(latents, dim=-1)).view(len(x), len(latents), self.n_experts)
        threshold = scores.topk(self.top_k, dim=-1).values[..., -1:]
        weights = torch.softmax(scores.masked_fill(scores < threshold, float("-inf")), dim=-1)
        return (outputs * weights).sum((1, 2)) + self.intercept
