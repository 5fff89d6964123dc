"""What MixNAM costs over NAM (paper Appendix J, Table 9): parameters and float32 memory.

A NAM with the same per-feature encoders ends each encoder in one linear head (d -> 1); MixNAM puts
C linear experts (d -> C) and a router there instead. So the measured extra is
params(experts) + params(router) - params(NAM heads), counted on the built module. The paper's
formulas count experts + router alone: n C ((n+1) d + 2) with the full router (MixNAM, MixNAM-E)
and n C (2 d + 2) with the block-diagonal one (MixNAM-D); both are reported.
"""
from __future__ import annotations

import torch

FLOAT32_BYTES = 4


def n_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def paper_extra_params(n_features: int, latent_dim: int, n_experts: int, diagonal_routing: bool) -> int:
    """Table 9's theoretical extra parameter count over NAM."""
    n, d, c = n_features, latent_dim, n_experts
    return n * c * (2 * d + 2) if diagonal_routing else n * c * ((n + 1) * d + 2)


def over_nam(module: torch.nn.Module) -> dict:
    """Extra parameters and memory of a MixNAM-family module over a NAM with the same encoders; {} otherwise."""
    experts, router = getattr(module, "expert_layer", None), getattr(module, "router", None)
    if experts is None or router is None:
        return {}
    n_features, latent_dim, n_experts = experts.weight.shape
    nam_heads = n_features * (latent_dim + 1)
    extra = n_parameters(experts) + n_parameters(router) - nam_heads
    return {"n_params_nam": n_parameters(module) - extra, "extra_params_over_nam": extra,
            "extra_memory_bytes_over_nam": extra * FLOAT32_BYTES,
            "extra_params_paper_formula": paper_extra_params(n_features, latent_dim, n_experts,
                                                             bool(getattr(module, "diagonal_routing", False)))}
