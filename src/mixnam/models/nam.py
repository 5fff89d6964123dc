"""NAM (Agarwal et al., 2021) and NA2M: one small network per feature, and per feature pair for NA2M.

NAM is MixNAM with one expert per feature and no router: the same per-feature encoder followed by a
linear head, and feature dropout (nbm-spam's `concept_dropout`) in place of expert dropout, which is
what expert dropout becomes with C = K = 1. NA2M adds one network per feature pair, all pairs
batched as groups of a `BatchedMLP` with two inputs.

Differences from nbm-spam's ConceptNAMNary, which the paper used for these baselines: its final
learned weight per term is folded into each term's linear head (the same function class), and the
initial scale and normalisation layers are those of the MixNAM encoder.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from mixnam.models.base import (
    AdditiveModel,
    AdditiveOutput,
    feature_pairs,
    output_penalty,
)
from mixnam.models.layers import BatchedLinear, BatchedMLP, dropout, feature_major


class NAM(AdditiveModel):
    """n feature networks (and n(n-1)/2 pair networks when `pairwise`) summed with an intercept."""

    def __init__(self, n_features: int, *, hidden_dims: Sequence[int] = (64, 64, 32), dropout: float = 0.0,
                 feature_dropout: float = 0.0, output_penalty: float = 0.0, normalization: str = "batch_norm",
                 pairwise: bool = False):
        super().__init__()
        self.feature_dropout, self.output_penalty = feature_dropout, output_penalty
        self.encoder = BatchedMLP(n_features, 1, hidden_dims, normalization, dropout)
        self.head = BatchedLinear(n_features, hidden_dims[-1], 1)
        self.term_features = tuple((i,) for i in range(n_features))
        if pairwise:
            pairs = feature_pairs(n_features)
            self.register_buffer("pairs", pairs, persistent=False)
            self.pair_encoder = BatchedMLP(len(pairs), 2, hidden_dims, normalization, dropout)
            self.pair_head = BatchedLinear(len(pairs), hidden_dims[-1], 1)
            self.term_features += tuple(map(tuple, pairs.tolist()))
        self.intercept = nn.Parameter(torch.zeros(()))

    @property
    def pairwise(self) -> bool:
        return hasattr(self, "pair_encoder")

    def forward_details(self, x: Tensor) -> AdditiveOutput:
        terms = self.head(self.encoder(feature_major(x)))  # (n, B, 1)
        if self.pairwise:
            pair_inputs = x[:, self.pairs].transpose(0, 1)  # (P, B, 2)
            terms = torch.cat([terms, self.pair_head(self.pair_encoder(pair_inputs))])
        terms = dropout(terms.squeeze(-1).t(), self.feature_dropout, self.training)  # (B, n_terms)
        return AdditiveOutput(terms, self.intercept)

    def penalty(self, details: AdditiveOutput) -> Tensor:
        return output_penalty(details.terms, self.output_penalty)
