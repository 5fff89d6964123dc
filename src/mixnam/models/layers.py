"""Batched per-feature layers: n independent small networks evaluated as one tensor op per layer.

Weights are shaped (n_groups, in, out) (a group is a feature, or a feature pair) and activations are
kept feature-major, (n_groups, B, width), so each layer is a single `torch.baddbmm` with no
transpose in between (a batch-major einsum permutes to this layout on every call; measured slower
on CPU). `tests/reference_loops.py` checks these layers against a plain loop over per-feature
`nn.Sequential` networks.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from mixnam.errors import ConfigError

NORMALIZATIONS = ("layer_norm", "batch_norm", "none")


class BatchedLinear(nn.Module):
    """n_groups independent linear maps: (n, B, in) -> (n, B, out) in one baddbmm."""

    def __init__(self, n_groups: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_groups, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_groups, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initial scale of the authors' multi-channel layer, which Table 5's learning rates assume.

        Their Kaiming-uniform call sees a (n, out, in) tensor, whose fan-in torch computes as
        out * in, so weights start at U(+-sqrt(6 / (in * out))) and biases at U(+-1 / sqrt(n * in)).
        """
        n_groups, fan_in, fan_out = self.weight.shape
        bound = math.sqrt(6.0 / (fan_in * fan_out))
        nn.init.uniform_(self.weight, -bound, bound)
        bias_bound = 1.0 / math.sqrt(n_groups * fan_in)
        nn.init.uniform_(self.bias, -bias_bound, bias_bound)

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class GroupBatchNorm(nn.BatchNorm2d):
    """Batch norm with one statistic per group, over the batch and the hidden units together.

    This is how the authors' encoder normalises with `batch_norm` (BatchNorm1d over the feature
    axis of a (B, n, d) tensor). Seen as a (1, n, B, d) image it is BatchNorm2d with n channels,
    which needs no copy of the feature-major activations.
    """

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.unsqueeze(0)).squeeze(0)


def _check_normalization(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"model.normalization must be one of {', '.join(NORMALIZATIONS)}; got {normalization!r}")


def group_norm(normalization: str, n_groups: int, width: int) -> nn.Module:
    """The norm layer of a batched MLP; layer norm's affine parameters are shared by the groups."""
    _check_normalization(normalization)
    if normalization == "layer_norm":
        return nn.LayerNorm(width)
    if normalization == "batch_norm":
        return GroupBatchNorm(n_groups)
    return nn.Identity()


def row_norm(normalization: str, width: int) -> nn.Module:
    """The norm layer of an ordinary (shared) MLP on (rows, width) inputs: per-unit batch norm."""
    _check_normalization(normalization)
    if normalization == "layer_norm":
        return nn.LayerNorm(width)
    if normalization == "batch_norm":
        return nn.BatchNorm1d(width)
    return nn.Identity()


def _hidden_layers(in_features: int, widths: Sequence[int], linear: Callable[[int, int], nn.Module],
                   norm: Callable[[int], nn.Module], dropout: float) -> list[nn.Module]:
    """[linear, norm, ReLU, dropout] per width: the authors' encoder block (NBM's, up to the order of
    dropout and ReLU, which commute)."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [linear(in_features, width), norm(width), nn.ReLU(), nn.Dropout(dropout)]
        in_features = width
    return layers


class BatchedMLP(nn.Sequential):
    """n_groups independent MLPs on (n, B, in_features) -> (n, B, widths[-1]) latents.

    The per-feature encoder f_i of NAM and MixNAM (and the pair networks of NA2M), ending, like the
    authors' encoder, with the last block's activation rather than a linear output.
    """

    def __init__(self, n_groups: int, in_features: int, widths: Sequence[int], normalization: str = "layer_norm",
                 dropout: float = 0.0, shared_norm: bool = False):
        norm = partial(group_norm, normalization, n_groups)
        if shared_norm:  # the authors' encoder: ONE norm module in every block (fidelity=code)
            if len(set(widths)) > 1:
                raise ConfigError(f"a norm layer shared by all encoder layers needs equal widths; got {list(widths)}")
            shared = norm(widths[0])
            norm = lambda width: shared
        super().__init__(*_hidden_layers(in_features, widths, partial(BatchedLinear, n_groups), norm, dropout))


class SharedMLP(nn.Sequential):
    """One ordinary MLP on (rows, in_features) -> (rows, widths[-1]): NBM's shared bases and the MLP."""

    def __init__(self, in_features: int, widths: Sequence[int], normalization: str = "batch_norm",
                 dropout: float = 0.0):
        super().__init__(*_hidden_layers(in_features, widths, nn.Linear, partial(row_norm, normalization), dropout))


def feature_major(x: Tensor) -> Tensor:
    """(B, n) inputs -> (n, B, 1): one scalar input per feature network."""
    return x.t().unsqueeze(-1)
