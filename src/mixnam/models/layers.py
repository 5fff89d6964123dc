"""Batched per-feature layers: n independent small networks evaluated as one tensor op per layer.

Weights are shaped (n_groups, in, out) (a group is a feature, or a feature pair) and activations are
kept feature-major, (n_groups, B, width), so each layer is a single `torch.baddbmm` with no
transpose in between (a batch-major einsum permutes to this layout on every call; measured slower
on CPU). `tests/reference_loops.py` checks these layers against a plain loop over per-feature
`nn.Sequential` networks.

Dropout is the step's largest cost after the matmuls when written the usual way (a float Bernoulli
draw per unit, then ReLU and the mask multiply as separate passes), so every neural model drops out
through `dropout` / `ReLUDropout` here: the keep mask comes from 16 random bits per unit (four units
per 64-bit draw) and ReLU, mask and the 1 / (1 - p) scale are one pass forward and one backward.
That pays on a CPU, where each pass is memory traffic. On a GPU the step is bound by kernel launches
and the mask's bookkeeping is a dozen of them, so there (and inside `torch.compile`, which fuses the
native op and cannot trace the bit tricks) dropout is torch's own fused kernel: the same math.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixnam.errors import ConfigError

NORMALIZATIONS = ("layer_norm", "batch_norm", "none")
MASK_LEVELS = 1 << 16  # a unit is dropped when its 16 random bits fall below round(p * 2^16)


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> Tensor:
    """Bernoulli(1 - p) keep flags from 16 random bits per unit, drawn four to a 64-bit word.

    Draws from torch's generator of `device` (seeded, saved in checkpoints); the drop probability is
    round(p * 2^16) / 2^16, within 2^-17 (7.6e-6) of p.
    """
    units = math.prod(shape)
    words = torch.empty((units + 3) // 4, dtype=torch.int64, device=device).random_(-2 ** 63, 2 ** 63 - 1)
    threshold = round(p * MASK_LEVELS) - MASK_LEVELS // 2  # int16 bits are uniform on [-2^15, 2^15)
    return words.view(torch.int16)[:units].view(shape) >= threshold


class _MultiplyByMask(torch.autograd.Function):
    """x * mask forward and grad * mask backward: the mask is not a tensor autograd tracks or copies."""

    @staticmethod
    def forward(ctx, x: Tensor, mask: Tensor) -> Tensor:
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def _scaled(keep: Tensor, p: float, dtype: torch.dtype) -> Tensor:
    """The kept units' factor 1 / (1 - p), zero elsewhere."""
    return keep.to(dtype).mul_(1.0 / (1.0 - p))


def _native(x: Tensor) -> bool:
    """Torch's fused dropout on a GPU or under torch.compile; the bit-mask dropout on a CPU."""
    return x.is_cuda or torch.compiler.is_compiling()


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout (keep probability 1 - p, kept units scaled by 1 / (1 - p)), as F.dropout."""
    if not training or p == 0.0:
        return x
    if _native(x):
        return F.dropout(x, p, training=True)
    if p == 1.0:
        return x * 0.0
    return _MultiplyByMask.apply(x, _scaled(keep_mask(x.shape, p, x.device), p, x.dtype))


def relu_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """dropout(relu(x)): one mask (positive and kept) serves the forward pass and the gradient."""
    if not training or p == 0.0:
        return torch.relu(x)
    if _native(x):
        return F.dropout(torch.relu(x), p, training=True)
    if p == 1.0:
        return x * 0.0
    keep = (x.detach() > 0).logical_and_(keep_mask(x.shape, p, x.device))
    return _MultiplyByMask.apply(x, _scaled(keep, p, x.dtype))


class ReLUDropout(nn.Module):
    """ReLU then inverted dropout with drop probability p (nn.ReLU + nn.Dropout in one pass)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"dropout probability must lie in [0, 1]; got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return relu_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


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
    """[linear, norm, ReLU + dropout] per width: the authors' encoder block (NBM's, up to the order of
    dropout and ReLU, which commute)."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [linear(in_features, width), norm(width), ReLUDropout(dropout)]
        in_features = width
    return layers


class _Blocks(nn.Sequential):
    """A stack of `_hidden_layers` that still loads weights saved when a block had four modules
    (linear, norm, ReLU, Dropout: keys 4k and 4k + 1 are now 3k and 3k + 1)."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        ours = [key for key in state_dict if key.startswith(prefix)]
        expected = {prefix + key for key in self.state_dict()}
        if ours and set(ours) != expected:
            renamed = {key: prefix + _three_slot_key(key[len(prefix):]) for key in ours}
            if set(renamed.values()) == expected:
                for old, new in renamed.items():
                    state_dict[new] = state_dict.pop(old) if old != new else state_dict[old]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _three_slot_key(key: str) -> str:
    index, _, rest = key.partition(".")
    block, slot = divmod(int(index), 4)
    return f"{3 * block + slot}.{rest}"


class BatchedMLP(_Blocks):
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


class SharedMLP(_Blocks):
    """One ordinary MLP on (rows, in_features) -> (rows, widths[-1]): NBM's shared bases and the MLP."""

    def __init__(self, in_features: int, widths: Sequence[int], normalization: str = "batch_norm",
                 dropout: float = 0.0):
        super().__init__(*_hidden_layers(in_features, widths, nn.Linear, partial(row_norm, normalization), dropout))


def feature_major(x: Tensor) -> Tensor:
    """(B, n) inputs -> (n, B, 1): one scalar input per feature network."""
    return x.t().unsqueeze(-1)
