"""NBM and NB2M (Radenovic et al., 2022): a few basis functions shared by all features.

One MLP maps every scalar feature value to `n_bases` basis values (ReLU after batch norm, as
nbm-spam's ConceptNNBasesNary); each feature's term is its own linear combination of the bases.
NB2M adds a second shared MLP on the two values of every feature pair. Sharing is what makes NBM
cheap: the bases MLP runs on (B * n, 1) rows, one ordinary matmul per layer.

Differences from nbm-spam's ConceptNBMNary: its final `classifier` weight per term is folded into
the term's combination weights (the same function class), and `dropout` also applies after the last
(bases) layer, whose default is 0 in every published setting.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from mixnam.models.base import (
    AdditiveModel,
    AdditiveOutput,
    feature_pairs,
    output_penalty,
)
from mixnam.models.layers import SharedMLP, dropout


class NBM(AdditiveModel):
    """Shared basis networks (unary, and pairwise when `pairwise`) with per-term combination weights."""

    def __init__(self, n_features: int, *, n_bases: int = 100, hidden_dims: Sequence[int] = (256, 128, 128),
                 dropout: float = 0.0, basis_dropout: float = 0.05, output_penalty: float = 0.0,
                 normalization: str = "batch_norm", pairwise: bool = False):
        super().__init__()
        self.basis_dropout, self.output_penalty = basis_dropout, output_penalty
        self.bases = SharedMLP(1, [*hidden_dims, n_bases], normalization, dropout)
        self.term_features = tuple((i,) for i in range(n_features))
        if pairwise:
            pairs = feature_pairs(n_features)
            self.register_buffer("pairs", pairs, persistent=False)
            self.pair_bases = SharedMLP(2, [*hidden_dims, n_bases], normalization, dropout)
            self.term_features += tuple(map(tuple, pairs.tolist()))
        n_terms = len(self.term_features)
        bound = 1.0 / math.sqrt(n_bases)  # nbm-spam's grouped Conv1d default
        self.term_weight = nn.Parameter(torch.empty(n_terms, n_bases).uniform_(-bound, bound))
        self.term_bias = nn.Parameter(torch.empty(n_terms).uniform_(-bound, bound))
        self.intercept = nn.Parameter(torch.zeros(()))

    @property
    def pairwise(self) -> bool:
        return hasattr(self, "pair_bases")

    def forward_details(self, x: Tensor) -> AdditiveOutput:
        batch, n = x.shape
        bases = self.bases(x.reshape(batch * n, 1)).view(batch, n, -1)
        if self.pairwise:
            pair_inputs = x[:, self.pairs]  # (B, P, 2)
            pair_bases = self.pair_bases(pair_inputs.reshape(-1, 2)).view(batch, len(self.pairs), -1)
            bases = torch.cat([bases, pair_bases], dim=1)
        bases = dropout(bases, self.basis_dropout, self.training)
        terms = torch.einsum("btk,tk->bt", bases, self.term_weight) + self.term_bias
        return AdditiveOutput(terms, self.intercept)

    def penalty(self, details: AdditiveOutput) -> Tensor:
        return output_penalty(details.terms, self.output_penalty)
