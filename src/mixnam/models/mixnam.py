"""MixNAM (paper Section 3) and its variants MixNAM-D (Appendix G) and MixNAM-E (Appendix H).

Per feature i: an MLP encoder f_i (latent of width d), C linear experts o_ik = E_ik(f_i(x_i)), and
routing weights r_ik from scores phi (Eq. 4), a top-K mask and a softmax (Eq. 5-6). The prediction is
w_0 + sum_i sum_k r_ik o_ik (Eq. 7). All features, experts and routes are computed in batched ops:
- full routing: phi = [f_1, ..., f_n] A + mu, ONE (B, n*d) x (n*d, n*C) matmul; every feature's
  latent may steer every feature's experts (Figure 2's block matrix);
- diagonal routing (MixNAM-D): only the diagonal blocks A_ii, a batched (n, d, C) layer, so each
  feature routes on itself and the model is strictly additive; Gumbel-softmax resampling
  (tau = 0.1) during training lets the experts learn different outcomes for the same value;
- even weights (MixNAM-E): the forward weights are exactly 1/K on the top-K experts, while the
  gradient is the softmax's (a straight-through estimator, phi - phi.detach()).
- router exclusion (`exclude_from_router`, issue 15): the off-diagonal blocks A_ij with i or j excluded
  are held at zero by a mask, so an excluded feature steers nobody's experts and nobody steers its
  own: it enters the prediction additively, while the other features still interact.
`FIDELITY_KEYS` are the switches of `conf/fidelity/` this model takes: the paper's behaviour by
default, the authors' code's with `fidelity=code` (docs/fidelity.md).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixnam.errors import ConfigError
from mixnam.models.base import AdditiveModel, MixtureOutput, output_penalty
from mixnam.models.layers import BatchedLinear, BatchedMLP, dropout, feature_major


class MixNAM(AdditiveModel):
    """Mixture of neural additive models; see the module docstring for the variants' switches."""

    FIDELITY_KEYS = ("gumbel_at_eval", "shared_encoder_norm", "variation_correction")

    def __init__(self, n_features: int, *, n_layers: int = 4, hidden_dim: int = 128, n_experts: int = 4,
                 top_k: int = 4, dropout: float = 0.1, dropout_expert: float = 0.2, output_penalty: float = 0.0,
                 variation_penalty: float = 0.1, normalization: str = "layer_norm", diagonal_routing: bool = False,
                 gumbel_tau: float | None = None, even_weights: bool = False, gumbel_at_eval: bool = False,
                 shared_encoder_norm: bool = False, variation_correction: int = 0):
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ConfigError(f"model.top_k={top_k} must lie in 1..model.n_experts={n_experts} (K <= C: the router "
                              "keeps the top K of C experts). Lower model.top_k or raise model.n_experts.")
        self.n_features, self.n_experts, self.top_k = n_features, n_experts, top_k
        self.dropout_expert = dropout_expert
        self.output_penalty, self.variation_penalty = output_penalty, variation_penalty
        self.diagonal_routing, self.gumbel_tau, self.even_weights = diagonal_routing, gumbel_tau, even_weights
        self.gumbel_at_eval, self.variation_correction = gumbel_at_eval, variation_correction
        self.term_features = tuple((i,) for i in range(n_features))

        self.encoder = BatchedMLP(n_features, 1, [hidden_dim] * n_layers, normalization, dropout,
                                  shared_norm=shared_encoder_norm)
        self.expert_layer = BatchedLinear(n_features, hidden_dim, n_experts)
        if diagonal_routing:
            self.router = BatchedLinear(n_features, hidden_dim, n_experts)
        else:
            self.router = nn.Linear(n_features * hidden_dim, n_features * n_experts)
            nn.init.xavier_normal_(self.router.weight)  # as the authors' code
        self.intercept = nn.Parameter(torch.zeros(()))
        self.register_buffer("router_mask", None, persistent=False)  # set by exclude_from_router

    def exclude_from_router(self, features: Sequence[int]) -> None:
        """Zero the router blocks between these features and every other (A_ij, A_ji for i excluded, j != i).

        A mask on the weight, not a zeroed weight: the blocks stay zero whatever the optimiser does.
        Diagonal routing has no such blocks, so it is already additive and nothing changes.
        """
        if self.diagonal_routing or not len(features):
            return
        blocks = torch.ones(self.n_features, self.n_features)
        blocks[list(features), :] = 0.0
        blocks[:, list(features)] = 0.0
        blocks.fill_diagonal_(1.0)
        width = self.router.in_features // self.n_features
        self.router_mask = torch.kron(blocks, torch.ones(self.n_experts, width)).to(self.router.weight)

    def _scores(self, latents: Tensor) -> Tensor:
        """phi (Eq. 4) from the (n, B, d) latents -> (B, n, C)."""
        if self.diagonal_routing:
            return self.router(latents).transpose(0, 1)
        n, batch, width = latents.shape
        flat = latents.transpose(0, 1).reshape(batch, n * width)
        if self.router_mask is not None:
            return F.linear(flat, self.router.weight * self.router_mask, self.router.bias).view(batch, n, self.n_experts)
        return self.router(flat).view(batch, n, self.n_experts)

    def routing_weights(self, scores: Tensor) -> Tensor:
        """r (Eq. 5-6, 22, 23) from the scores, with expert dropout in training."""
        logits = scores - scores.detach() if self.even_weights else scores
        if self.top_k < self.n_experts:
            top = scores.topk(self.top_k, dim=-1).indices
            logits = logits + torch.full_like(scores, float("-inf")).scatter(-1, top, 0.0)
        if self.gumbel_tau is not None and (self.training or self.gumbel_at_eval):
            # softmax((log r + g) / tau) of Eq. 22; log r differs from the logits by a constant per row
            weights = F.gumbel_softmax(logits, tau=self.gumbel_tau, dim=-1)
        else:
            weights = torch.softmax(logits, dim=-1)
        return dropout(weights, self.dropout_expert, self.training)

    def forward_details(self, x: Tensor) -> MixtureOutput:
        latents = self.encoder(feature_major(x))  # (n, B, d)
        expert_outputs = self.expert_layer(latents).transpose(0, 1)  # (B, n, C)
        weights = self.routing_weights(self._scores(latents))
        return MixtureOutput(expert_outputs, weights, self.intercept)

    def routing_parts(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(o, own, phi), each (B, n, C): expert outputs, each feature's own router term and the scores.

        phi_i = mu_i + sum_j A_ji^T f_j(x_j) is linear in every latent, so the scores with x_i set to v
        are phi_i - own_i(x) + own_i(v), own_i = A_ii^T f_i(x_i): what the interventional tightness
        (`mixnam.evaluation.tightness`) updates per grid value instead of re-running the model.
        """
        latents = self.encoder(feature_major(x))  # (n, B, d)
        if self.diagonal_routing:
            own = torch.bmm(latents, self.router.weight)  # (n, B, C), the bias is context
        else:
            n, width = self.n_features, latents.shape[-1]
            weight = self.router.weight if self.router_mask is None else self.router.weight * self.router_mask
            diagonal = weight.view(n, self.n_experts, n, width).diagonal(dim1=0, dim2=2)  # (C, d, n): A_ii^T
            own = torch.einsum("nbd,cdn->nbc", latents, diagonal)
        return self.expert_layer(latents).transpose(0, 1), own.transpose(0, 1), self._scores(latents)

    def expert_outputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(o, r), each (B, n, C): what shape functions and bounds are built on (eval mode)."""
        details = self.forward_details(x)
        return details.expert_outputs, details.routing_weights

    def penalty(self, details: MixtureOutput) -> Tensor:
        """Eq. 8: gamma * mean(o_i^2) + lambda * mean over (sample, feature) of the variance across experts.

        The variance divides by C as in Eq. 8; `variation_correction=1` divides by C - 1 as the authors'
        code (torch's unbiased default) does.
        """
        correction = min(self.variation_correction, self.n_experts - 1)  # one expert has no spread either way
        variation = details.expert_outputs.var(dim=-1, correction=correction).mean()
        return output_penalty(details.terms, self.output_penalty) + self.variation_penalty * variation
