"""One view of any model for explanations: per-feature contributions, experts and a differentiable output.

Explanations and the interpretability metrics only need three things from a model, whatever its kind:
- `terms(X)`: (rows, features) main-effect contributions on the margin scale (routed o_i for MixNAM);
- `experts(X)`: (o, r), the per-expert outputs o_ik and routing weights r_ik, each (rows, features, C),
  for the MixNAM family (modules whose `forward_details` returns a `MixtureOutput`), else None;
- `output(x)`: the raw prediction (margin: logit for classification) as a differentiable torch
  function, for neural models, else None.
`view(obj)` builds it from a torch module, a neural estimator holding one, or a library estimator
with the additive contract of `mixnam.models.library.AdditiveBaseline`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from mixnam.evaluation.tightness import bounds  # noqa: F401 - Eq. 9, part of this view's API

MODULE_ATTRIBUTES = ("module", "model", "net", "network")


@dataclass
class ModelView:
    name: str
    n_features: int
    terms: Callable[[np.ndarray], np.ndarray] | None  # None: not additive (MLP), additivity only
    experts: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    output: Callable[[torch.Tensor], torch.Tensor] | None = None
    bound_k: int = 1  # bounds average the top/bottom k experts: 1 (Eq. 9), K for even weights (MixNAM-E)
    module: torch.nn.Module | None = None

    @property
    def is_mixture(self) -> bool:
        return self.experts is not None


def find_module(obj: Any) -> torch.nn.Module | None:
    if isinstance(obj, torch.nn.Module):
        return obj
    for attribute in MODULE_ATTRIBUTES:
        candidate = getattr(obj, attribute, None)
        if isinstance(candidate, torch.nn.Module):
            return candidate
    return None


def _main_term_index(obj: Any, n_features: int) -> np.ndarray:
    """Columns of `contributions` that are single-feature terms (pair terms of NA2M/EB2M are left out)."""
    term_features = getattr(obj, "term_features", None)
    if term_features is not None:
        position = {tuple(t): j for j, t in enumerate(term_features)}
        return np.array([position[(i,)] for i in range(n_features)])
    names, features = getattr(obj, "term_names", None), getattr(obj, "feature_names", None)
    if names is not None and features is not None:
        position = {name: i for i, name in enumerate(names)}
        return np.array([position[str(f)] for f in features])
    return np.arange(n_features)


@contextmanager
def evaluating(module: torch.nn.Module):
    """Eval mode (no dropout, running norms, no Gumbel noise) for the duration, then the mode it had."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _torch_view(obj: Any, module: torch.nn.Module, n_features: int) -> ModelView:
    device = next(module.parameters()).device

    def run(fn: Callable, X: np.ndarray, batch: int = 8192):
        """Eval-mode, no-grad, batched evaluation returning numpy (tuples stay tuples)."""
        with evaluating(module), torch.no_grad():
            parts = [fn(torch.as_tensor(X[i:i + batch], dtype=torch.float32, device=device))
                     for i in range(0, len(X), batch)]
        if isinstance(parts[0], tuple):
            return tuple(torch.cat(p).double().cpu().numpy() for p in zip(*parts))
        return torch.cat(parts).double().cpu().numpy()

    def experts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        details = module.forward_details(x)
        return details.expert_outputs, details.routing_weights

    def output(x: torch.Tensor) -> torch.Tensor:
        with evaluating(module):
            return module(x.to(device)).reshape(len(x))

    is_mixture = False
    if hasattr(module, "forward_details"):
        with evaluating(module), torch.no_grad():
            is_mixture = hasattr(module.forward_details(torch.zeros(2, n_features, device=device)), "expert_outputs")
    main = _main_term_index(module if hasattr(module, "term_features") else obj, n_features)
    return ModelView(
        name=type(module).__name__, n_features=n_features, module=module,
        terms=(lambda X: run(module.contributions, X)[:, main]) if hasattr(module, "contributions") else None,
        experts=(lambda X: run(experts, X)) if is_mixture else None,
        output=output,
        bound_k=int(getattr(module, "top_k", 1)) if getattr(module, "even_weights", False) else 1,
    )


def view(obj: Any, n_features: int) -> ModelView:
    """The explanation view of a model or estimator with `n_features` input features."""
    if isinstance(obj, ModelView):
        return obj
    module = find_module(obj)
    if module is not None:
        return _torch_view(obj, module, n_features)
    terms = None
    if hasattr(obj, "contributions"):
        main = _main_term_index(obj, n_features)
        terms = lambda X: np.asarray(obj.contributions(np.asarray(X, np.float32)), np.float64)[:, main]  # noqa: E731
    return ModelView(name=type(obj).__name__, n_features=n_features, terms=terms)
