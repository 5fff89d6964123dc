"""What every neural model returns, and the contract the trainer and the explanations rely on.

Every model is an `nn.Module` with
- `forward_details(x) -> details`: one forward pass whose result carries `.logit` (B,) and whatever
  the model's penalty and explanations need;
- `penalty(details) -> scalar`: the model's own regularisation term of the training loss (output
  penalty, expert variation penalty), so one training step needs one forward pass;
- `forward(x) -> logit (B,)`: the raw prediction (standardised target or classification logit).

Additive models (`AdditiveModel`) add `contributions(x) -> (B, n_terms)` with
`contributions(x).sum(-1) + intercept == forward(x)`, and `term_features`, the feature indices of
each term (one feature for main effects, two for pairs).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class Prediction(NamedTuple):
    """A non-additive model's output (MLP)."""

    logit: Tensor  # (B,)


class AdditiveOutput(NamedTuple):
    """Per-term contributions of an additive model; their sum plus the intercept is the logit."""

    terms: Tensor  # (B, n_terms)
    intercept: Tensor  # scalar

    @property
    def logit(self) -> Tensor:
        return self.terms.sum(-1) + self.intercept


class MixtureOutput(NamedTuple):
    """A MixNAM forward pass: expert outputs o_ik and routing weights r_ik (Eq. 2-3, 7).

    Feature i's contribution is o_i = sum_k r_ik o_ik; its bounds (Eq. 9) are the max / min of
    o_ik over the experts k. In training mode `routing_weights` include the Gumbel noise (MixNAM-D)
    and the expert dropout; in eval mode they are the deterministic weights the explanations use.
    """

    expert_outputs: Tensor  # o_ik, (B, n, C)
    routing_weights: Tensor  # r_ik, (B, n, C): non-negative, each (b, i) row sums to one in eval mode
    intercept: Tensor  # w_0, scalar

    @property
    def terms(self) -> Tensor:
        """o_i, (B, n)."""
        return (self.expert_outputs * self.routing_weights).sum(-1)

    @property
    def logit(self) -> Tensor:
        return self.terms.sum(-1) + self.intercept


class NeuralModel(nn.Module):
    """Base class: `forward` is the logit of `forward_details`; no penalty unless a model adds one."""

    FIDELITY_KEYS: tuple[str, ...] = ()  # switches of conf/fidelity/ the constructor takes (none by default)

    def forward_details(self, x: Tensor) -> Prediction | AdditiveOutput | MixtureOutput:
        raise NotImplementedError

    def penalty(self, details) -> Tensor:
        return details.logit.new_zeros(())

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_details(x).logit


class AdditiveModel(NeuralModel):
    """A model whose prediction is a sum of per-term contributions plus an intercept."""

    term_features: tuple[tuple[int, ...], ...]
    intercept: nn.Parameter

    def contributions(self, x: Tensor) -> Tensor:
        """(B, n_terms) contributions on the logit scale; they sum with the intercept to `forward(x)`."""
        return self.forward_details(x).terms


def output_penalty(terms: Tensor, weight: float) -> Tensor:
    """gamma * mean over (sample, term) of the squared contributions (Eq. 8, second term)."""
    return weight * terms.pow(2).mean()


def feature_pairs(n_features: int) -> Tensor:
    """All unordered feature pairs (i < j), (n(n-1)/2, 2), in the order of `itertools.combinations`."""
    return torch.combinations(torch.arange(n_features), r=2)
