"""Every configuration value checked before any data are loaded: one declarative table of rules.

Each `Rule` names a dotted key, what is allowed (in words and as a predicate) and what the key is
for; `RELATIONS` check keys against each other (K <= C). A rule applies wherever its key exists, so
`model.dropout` is checked for every model that has one. `validate(cfg)` reports every broken rule
at once, one paragraph each: the key, the value, what is allowed and the fix, as a `ConfigError`.
Launcher keys are checked before submission by `mixnam.launchers`.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from mixnam.errors import ConfigError
from mixnam.models import NEURAL

ABSENT = object()


@dataclass(frozen=True)
class Rule:
    key: str
    allowed: str  # what is allowed, in words: "an integer >= 1"
    check: Callable[[Any], bool]
    meaning: str  # what the key is for, so the message says why the bound exists


def _is_int(value) -> bool:  # numpy's integers too: an estimator's hyper-parameter may come from np.arange
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:  # finite: an infinite penalty or rate makes the first loss NaN
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def whole(key: str, minimum: int, meaning: str, nullable: bool = False, maximum: int | None = None) -> Rule:
    bound = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
    return Rule(key, f"an integer {bound}" + (" or null" if nullable else ""),
                lambda v: (nullable and v is None)
                or (_is_int(v) and v >= minimum and (maximum is None or v <= maximum)), meaning)


def number(key: str, low: float, high: float | None, meaning: str, low_open: bool = False, high_open: bool = True,
           nullable: bool = False) -> Rule:
    interval = f"{'(' if low_open else '['}{low}, {'inf' if high is None else high}{')' if high_open else ']'}"

    def inside(v) -> bool:
        if nullable and v is None:
            return True
        if not _is_number(v):
            return False
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    return Rule(key, f"a number in {interval}" + (" or null" if nullable else ""), inside, meaning)


def one_of(key: str, options: tuple, meaning: str) -> Rule:
    return Rule(key, "one of " + ", ".join(map(str, options)), lambda v: v in options, meaning)


def flag(key: str, meaning: str) -> Rule:
    return Rule(key, "true or false", lambda v: isinstance(v, bool), meaning)


def whole_list(key: str, minimum: int, meaning: str) -> Rule:
    return Rule(key, f"a non-empty list of integers >= {minimum}",
                lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_int(x) and x >= minimum for x in v),
                meaning)


def positive_list(key: str, meaning: str) -> Rule:
    return Rule(key, "a non-empty list of numbers > 0",
                lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_number(x) and x > 0 for x in v),
                meaning)


def share(key: str, meaning: str) -> Rule:
    """A dropout-like probability: 1 would drop everything."""
    return number(key, 0, 1, meaning)


def fraction(key: str, meaning: str) -> Rule:
    """A share of rows or columns to keep: 0 would keep nothing."""
    return number(key, 0, 1, meaning, low_open=True, high_open=False)


RULES: tuple[Rule, ...] = (
    # the run
    whole("split", 0, "the CV fold (0-4) or 0 for fixed-split datasets"),
    whole("seed", 0, "the seed of init, batch order and noise (numpy needs 0..2**32-1)", maximum=2**32 - 1),
    Rule("experiment_name", "a non-empty name without '/'", lambda v: isinstance(v, str) and v != "" and "/" not in v,
         "the directory grouping the records"),
    flag("force", "rerun even if a completed record exists"),
    flag("resume", "continue from the run's last checkpoint"),
    flag("explain", "save shape functions beside the run"),
    whole("max_replicates", 1, "the cap on folds/seeds per dataset in a sweep", nullable=True),
    # data
    whole("data.max_rows", 100, "the rows kept for a quick run (train, val and test need rows each)", nullable=True),
    flag("data.verify_rows", "reject raw files whose row count is not canonical"),
    Rule("data.mirror", "null, an http(s):// or file:// URL prefix, or an existing directory",
         lambda v: v is None or (isinstance(v, str) and (v.startswith(("http://", "https://", "file://"))
                                                         or Path(v).is_dir())),
         "where raw files are copied from, laid out <dataset>/<file>; also set by MIXNAM_DATA_MIRROR"),
    whole("node.max_trees", 1, "the cap on the NODE family's trees per layer", nullable=True),
    # trainer
    whole("trainer.max_epochs", 1, "the epoch budget", nullable=True),
    one_of("trainer.accelerator", ("cpu", "gpu", "cuda", "auto"), "the device to train on"),
    Rule("trainer.devices", "1 (or auto)", lambda v: v in ("auto", 1) and not isinstance(v, bool),
         "one run trains on one device (its batches are not sharded); to use several GPUs run several runs at once: "
         "hydra/launcher=local hydra.launcher.n_jobs=N, or hydra/launcher=slurm hydra.launcher.runs_per_job=N"),
    one_of("trainer.precision", ("32-true", "32", 32, "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"),
           "Lightning's numeric precision"),
    one_of("trainer.matmul_precision", ("highest", "high", "medium"), "torch.set_float32_matmul_precision"),
    flag("trainer.compile", "torch.compile the model"),
    flag("trainer.deterministic", "deterministic kernels"),
    flag("trainer.enable_progress_bar", "draw a progress bar"),
    whole("trainer.num_threads", 1, "torch's intra-op threads", nullable=True),
    fraction("trainer.patience_fraction", "the share of the epoch budget without improvement before stopping"),
    whole("trainer.checkpoint_every_n_epochs", 1, "how often last.ckpt is refreshed"),
    # models: training keys
    whole("model.batch_size", 1, "rows per training step"),
    number("model.lr", 0, None, "the learning rate", low_open=True),
    number("model.weight_decay", 0, None, "AdamW's weight decay"),
    whole("model.max_epochs", 1, "the model's epoch budget (Table 5's max iteration)", nullable=True),
    # neural architectures
    whole("model.n_layers", 1, "encoder layers per feature"),
    whole("model.hidden_dim", 1, "the latent width d"),
    whole_list("model.hidden_dims", 1, "the widths of the feature networks' layers"),
    whole("model.n_experts", 1, "C, the experts per feature"),
    whole("model.top_k", 1, "K, the experts activated per feature"),
    whole("model.n_bases", 1, "NBM's shared basis networks"),
    share("model.dropout", "dropout inside the feature networks"),
    share("model.dropout_expert", "dropout on the routing weights"),
    share("model.feature_dropout", "dropout of whole feature outputs"),
    share("model.basis_dropout", "dropout of basis outputs"),
    number("model.output_penalty", 0, None, "gamma, the output penalty of Eq. 8"),
    number("model.variation_penalty", 0, None, "lambda, the expert-variation penalty of Eq. 8"),
    one_of("model.normalization", ("layer_norm", "batch_norm", "none"), "the normalisation in the feature networks"),
    number("model.gumbel_tau", 0, None, "the Gumbel-softmax temperature", low_open=True, nullable=True),
    flag("model.pairwise", "add pairwise feature networks"),
    flag("model.diagonal_routing", "MixNAM-D's block-diagonal router"),
    flag("model.even_weights", "MixNAM-E's even weights"),
    # library models
    whole("model.interactions", 0, "EBM's pairwise terms"),
    fraction("model.bag_fraction", "the rows of train per outer bag"),
    whole("model.n_estimators", 1, "XGBoost's boosting rounds"),
    whole("model.early_stopping_rounds", 1, "rounds without improvement before stopping"),
    number("model.learning_rate", 0, None, "the boosting step size", low_open=True),
    whole("model.max_depth", 0, "the trees' depth (0: no limit)"),
    number("model.min_child_weight", 0, None, "the least hessian weight in a leaf"),
    fraction("model.subsample", "the share of rows per tree"),
    fraction("model.colsample_bytree", "the share of features per tree"),
    number("model.reg_lambda", 0, None, "the L2 penalty on leaf weights"),
    whole("model.num_trees", 1, "NODE's trees per layer"),
    whole("model.num_layers", 1, "NODE's layers"),
    whole("model.depth", 1, "NODE's tree depth"),
    share("model.output_dropout", "NODE's dropout on tree outputs"),
    share("model.last_dropout", "NODE's dropout before the last layer"),
    Rule("model.max_rounds", "an integer >= 1, or -1 for no limit", lambda v: _is_int(v) and (v >= 1 or v == -1),
         "NODE's training steps"),
    number("model.max_time", 0, None, "NODE's time budget in seconds", low_open=True),
    whole("model.n_splines", 4, "the spline basis size (above the cubic order)"),
    whole("model.max_iter", 1, "the solver's iterations"),
    positive_list("model.lams", "the spline penalties tried on validation"),
    positive_list("model.alphas", "the ridge/logistic penalties tried on validation"),
)


def _value(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, default=ABSENT, throw_on_missing=False)
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value


def _fix(key: str, allowed: str, where: str) -> str:
    return f"Fix: pass {key}=<{allowed}> on the command line, or correct it in {where}."


def _file_of(key: str, cfg: DictConfig) -> str:
    group = key.split(".")[0]
    name = OmegaConf.select(cfg, f"{group}.name", default=None) if group in ("model", "dataset") else None
    if name:
        return f"conf/{group}/{name}.yaml (or conf/tuned/)"
    return f"the chosen conf/{group}/*.yaml" if group in ("trainer", "profile") else "conf/config.yaml"


def rule_problems(cfg: DictConfig) -> list[str]:
    problems = []
    for rule in RULES:
        value = _value(cfg, rule.key)
        if value is ABSENT or rule.check(value):
            continue
        problems.append(f"{rule.key}={value!r} is not allowed: {rule.key} ({rule.meaning}) must be {rule.allowed}. "
                        + _fix(rule.key, rule.allowed, _file_of(rule.key, cfg)))
    return problems


def setting_problems(settings: dict[str, Any], rules: dict[str, Rule | str]) -> list[str]:
    """Keyword arguments, named as their caller names them, each checked by its rule or by the rule of the
    config key it sets: the estimators' hyper-parameters obey the bounds of the harness's configs."""
    by_key = {rule.key: rule for rule in RULES}
    problems = []
    for name, value in settings.items():
        rule = by_key[rules[name]] if isinstance(rules[name], str) else rules[name]
        if not rule.check(value):
            problems.append(f"{name}={value!r} must be {rule.allowed} ({rule.meaning}).")
    return problems


def relation_problems(cfg: DictConfig) -> list[str]:
    """Keys valid one by one but not together."""
    problems = []
    top_k, n_experts = _value(cfg, "model.top_k"), _value(cfg, "model.n_experts")
    if _is_int(top_k) and _is_int(n_experts) and top_k > n_experts >= 1:
        problems.append(f"model.top_k={top_k} must lie in 1..model.n_experts={n_experts} (K <= C: the router keeps "
                        f"K of the C experts of each feature). Fix: Lower model.top_k to at most {n_experts}, or raise "
                        f"model.n_experts to at least {top_k}.")
    name = _value(cfg, "model.name")
    if name in NEURAL and _value(cfg, "trainer.max_epochs") is None:
        problems.append(f"trainer.max_epochs is null, but {name} trains for a number of epochs. Fix: set "
                        f"trainer.max_epochs=<an integer >= 1> (or model.max_epochs).")
    splits, split = _value(cfg, "dataset.splits"), _value(cfg, "split")
    if _is_int(splits) and splits > 1 and _is_int(split) and split >= splits:
        problems.append(f"split={split} is not a fold of {_value(cfg, 'dataset.name')}'s {splits}-fold protocol. "
                        f"Fix: pass split=<0..{splits - 1}>.")
    return problems


def validate(cfg: DictConfig) -> None:
    """Raise one `ConfigError` listing every bad value (one paragraph each) before any work starts."""
    problems = rule_problems(cfg) + relation_problems(cfg)
    if problems:
        raise ConfigError("\n\n".join(problems))
