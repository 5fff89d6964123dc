"""The lean training step (issue 10) computes what the former step computed, only faster.

Checked against `tests/reference_step.py` (the former ReLU + nn.Dropout blocks and per-tensor
AdamW): the same outputs and gradients without dropout, the same masked arithmetic with it, a keep
rate within binomial noise of 1 - p, the same optimizer update, and the same masks for the same seed.
"""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from mixnam.errors import ConfigError
from mixnam.models.layers import MASK_LEVELS, dropout, keep_mask, relu_dropout
from mixnam.training.resources import check_precision
from tests.reference_step import todays_layers, todays_optimizer
from tests.test_models import inputs, single_thread, small  # noqa: F401 - autouse fixture

KINDS = ("mixnam", "mixnam_e", "nam", "na2m", "nbm", "nb2m", "mlp")
NO_DROPOUT = {"nbm": {"basis_dropout": 0.0}, "nb2m": {"basis_dropout": 0.0}, "mlp": {"dropout": 0.0}}


def loss_and_grads(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.train()
    model.zero_grad(set_to_none=True)
    details = model.forward_details(x)
    loss = details.logit.pow(2).mean() + model.penalty(details)
    loss.backward()
    return details.logit.detach(), [p.grad for p in model.parameters()]


@pytest.mark.parametrize("kind", KINDS)
def test_without_dropout_the_new_step_has_the_former_outputs_and_gradients(kind):
    model = small(kind, **NO_DROPOUT.get(kind, {}))
    former = todays_layers(model)
    x = inputs()
    logit, grads = loss_and_grads(model, x)
    former_logit, former_grads = loss_and_grads(former, x)
    torch.testing.assert_close(logit, former_logit)
    for grad, former_grad in zip(grads, former_grads, strict=True):
        torch.testing.assert_close(grad, former_grad)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_relu_dropout_is_relu_times_the_scaled_keep_mask_forward_and_backward(p):
    x = torch.randn(3, 64, 16, requires_grad=True)
    torch.manual_seed(7)
    out = relu_dropout(x, p, training=True)
    (grad,) = torch.autograd.grad((out * out.detach().cos()).sum(), x)
    torch.manual_seed(7)
    keep = keep_mask(x.shape, p, x.device)
    reference = torch.relu(x) * keep / (1 - p)
    (reference_grad,) = torch.autograd.grad((reference * reference.detach().cos()).sum(), x)
    torch.testing.assert_close(out, reference)
    torch.testing.assert_close(grad, reference_grad)
    assert torch.equal(relu_dropout(x, p, training=False), torch.relu(x)), "no dropout in eval mode"


@pytest.mark.parametrize("p", [0.1, 0.2, 0.6])
def test_keep_rate_is_one_minus_p_within_binomial_noise_and_p_is_quantised_below_1e_4(p):
    units = 1 << 20
    torch.manual_seed(0)
    kept = keep_mask((units,), p, torch.device("cpu")).double().mean().item()
    assert abs(kept - (1 - p)) < 5 * math.sqrt(p * (1 - p) / units)
    assert abs(round(p * MASK_LEVELS) / MASK_LEVELS - p) <= 1e-4
    # inverted dropout keeps the mean
    assert abs(dropout(torch.ones(units), p, training=True).double().mean().item() - 1) < 5 * math.sqrt(p / (1 - p) / units)


def test_masks_follow_the_seed():
    draws = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        draws.append(keep_mask((4096,), 0.3, torch.device("cpu")))
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def test_fused_adamw_takes_the_former_per_tensor_step():
    model = small("mixnam")
    former = todays_layers(model)
    x = inputs()
    fused = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1, fused=True)
    per_tensor = todays_optimizer(former.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        loss_and_grads(model, x)
        loss_and_grads(former, x)
        fused.step()
        per_tensor.step()
    for new, old in zip(model.parameters(), former.parameters(), strict=True):
        torch.testing.assert_close(new, old)


def test_weights_saved_with_four_module_blocks_still_load():
    model = small("nam", normalization="layer_norm")
    four_slot = {}
    for key, value in model.state_dict().items():
        if key.startswith("encoder."):
            index, rest = key[len("encoder."):].split(".", 1)
            block, slot = divmod(int(index), 3)
            key = f"encoder.{4 * block + slot}.{rest}"
        four_slot[key] = value
    reloaded = small("nam", normalization="layer_norm")
    reloaded.load_state_dict(four_slot)  # strict: every encoder weight found its new key
    model.eval()
    reloaded.eval()
    torch.testing.assert_close(reloaded(inputs()), model(inputs()))


def test_an_unsupported_precision_is_one_clear_error():
    assert check_precision(OmegaConf.create({"precision": "bf16-mixed"})) == "bf16-mixed"
    with pytest.raises(ConfigError, match="trainer.precision=32-true"):
        check_precision(OmegaConf.create({"precision": "16"}))
