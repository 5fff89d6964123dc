"""A profile's ceilings on the models' own budgets: `budget_caps` in the config, set by `profile=smoke`.

Library models train to budgets of their own (interpret's 14 outer bags of up to 50,000 rounds,
XGBoost's 20,000 trees, NODE's 1,333 trees per layer, pygam's 500 P-IRLS iterations), so a quick
check must shrink each of them; the config names them in one place, `budget_caps.<model>.<key>:
ceiling`, and `build_estimator` applies them to the model config before the estimator is built.
A configured number above its ceiling is lowered to it; a key left to the library's default
(absent, null, or a library spec such as interpret's `interactions: 5x`) takes the ceiling, since
no default of a library is smaller than a quick check's; a list of widths (`hidden_dims`) is capped
layer by layer. Neural models' budget is `trainer.max_epochs`, which a profile sets directly (NODE's
steps follow it too); a quick check also caps their widths here, since a pairwise model on Year's 90
features trains 4,005 networks whatever the epochs.
"""
from __future__ import annotations

import copy
from numbers import Real
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from mixnam.errors import ConfigError
from mixnam.models import MODELS


def _ceilings(cfg: DictConfig) -> dict[str, Any]:
    """This run's model's ceilings, after checking the whole `budget_caps` section."""
    caps = OmegaConf.to_container(cfg.budget_caps, resolve=True) if cfg.get("budget_caps") else {}
    for model, keys in caps.items():
        if model not in MODELS:
            raise ConfigError(f"budget_caps.{model}: no model is called {model!r}. Caps are keyed by model name "
                              f"({', '.join(MODELS)}), e.g. budget_caps.eb2m.max_rounds=50.")
        for key, ceiling in (keys or {}).items():
            if isinstance(ceiling, bool) or not isinstance(ceiling, Real) or ceiling <= 0:
                raise ConfigError(f"budget_caps.{model}.{key}={ceiling!r} must be a positive number (a ceiling on "
                                  f"model.{key}); remove the key to leave model.{key} as configured.")
    return caps.get(cfg.model.name) or {}


def _capped(value: Any, ceiling: Real) -> Any:
    if isinstance(value, list):
        return [_capped(v, ceiling) for v in value]
    return min(value, ceiling) if isinstance(value, Real) and not isinstance(value, bool) else ceiling


def capped_settings(cfg: DictConfig) -> dict[str, Any]:
    """The model settings the ceilings decide, as the estimator will use them (recorded with each run)."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return {key: _capped(model.get(key), ceiling) for key, ceiling in _ceilings(cfg).items()}


def with_budget_caps(cfg: DictConfig) -> DictConfig:
    """`cfg` itself when no ceiling applies to its model, else a copy whose `model` obeys them."""
    settings = capped_settings(cfg)
    if not settings:
        return cfg
    capped = copy.deepcopy(cfg)
    with open_dict(capped.model):
        capped.model.merge_with(settings)
    return capped
