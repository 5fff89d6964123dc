"""The paper's claims about the MixNAM family and the neural baselines, checked on small models."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from mixnam.models.mixnam import MixNAM
from mixnam.models.mlp import MLP
from mixnam.models.nam import NAM
from mixnam.models.nbm import NBM
from tests.reference_loops import LoopMixNAM

TABLE9 = Path(__file__).resolve().parents[2] / "shared" / "paper_tables" / "table9_complexity.csv"
N = 5


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny models: on a busy or shared CPU, intra-op threads cost far more than they save."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small(kind: str, **overrides):
    """Small instances of every neural model, as their configs set them up."""
    torch.manual_seed(0)
    mixnam = dict(n_layers=2, hidden_dim=16, dropout=0.0, dropout_expert=0.0)
    builders = {
        "mixnam": lambda: MixNAM(N, **mixnam, **overrides),
        "mixnam_d": lambda: MixNAM(N, **mixnam, n_experts=8, top_k=8, diagonal_routing=True, gumbel_tau=0.1,
                                   **overrides),
        "mixnam_e": lambda: MixNAM(N, **mixnam, n_experts=8, top_k=3, even_weights=True, **overrides),
        "nam": lambda: NAM(N, hidden_dims=[16, 8], **overrides),
        "na2m": lambda: NAM(N, hidden_dims=[16, 8], pairwise=True, **overrides),
        "nbm": lambda: NBM(N, n_bases=6, hidden_dims=[16], **overrides),
        "nb2m": lambda: NBM(N, n_bases=6, hidden_dims=[16], pairwise=True, **overrides),
        "mlp": lambda: MLP(N, hidden_dims=[16, 16], **overrides),
    }
    return builders[kind]()


def inputs(rows: int = 64, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(rows, N, generator=torch.Generator().manual_seed(1), dtype=dtype)


def train_once(model: torch.nn.Module, x: torch.Tensor) -> None:
    """One training-mode pass, so batch-norm running statistics are not their initial values."""
    model.train()
    model(x)
    model.eval()


ADDITIVE = ("mixnam", "mixnam_d", "mixnam_e", "nam", "na2m", "nbm", "nb2m")


@pytest.mark.parametrize("kind", ADDITIVE)
def test_contributions_plus_intercept_are_the_prediction(kind):
    model = small(kind)
    x = inputs()
    train_once(model, x)
    with torch.no_grad():
        terms = model.contributions(x)
        assert terms.shape == (len(x), len(model.term_features))
        torch.testing.assert_close(terms.sum(-1) + model.intercept, model(x))


def test_pair_models_have_one_term_per_feature_then_per_pair():
    features = small("na2m").term_features
    assert features[:N] == tuple((i,) for i in range(N))
    assert features[N:] == tuple((i, j) for i in range(N) for j in range(i + 1, N))
    assert small("nb2m").term_features == features


def test_relevance_weights_are_non_negative_sum_to_one_with_exactly_k_nonzeros():
    model = small("mixnam", n_experts=6, top_k=3).eval()
    with torch.no_grad():
        _, r = model.expert_outputs(inputs())
    assert r.shape == (64, N, 6)
    assert (r >= 0).all()
    torch.testing.assert_close(r.sum(-1), torch.ones(64, N))
    assert ((r > 0).sum(-1) == 3).all()


def test_mixnam_e_forward_weights_are_exactly_one_over_k_with_a_softmax_gradient():
    model = small("mixnam_e")
    model.train()
    details = model.forward_details(inputs())
    r = details.routing_weights
    assert torch.equal(r[r > 0], torch.full_like(r[r > 0], 1 / 3)) and ((r > 0).sum(-1) == 3).all()
    details.logit.sum().backward()
    assert model.router.weight.grad.abs().sum() > 0, "straight-through: the router still learns"


def test_mixnam_with_one_expert_computes_the_same_function_as_nam():
    nam = NAM(N, hidden_dims=[16, 16], normalization="layer_norm", feature_dropout=0.3)
    mixnam = MixNAM(N, n_layers=2, hidden_dim=16, n_experts=1, top_k=1, normalization="layer_norm",
                    dropout=0.0, dropout_expert=0.3)
    weights = {k.replace("head.", "expert_layer."): v for k, v in nam.state_dict().items()}
    missing, unexpected = mixnam.load_state_dict(weights, strict=False)
    assert all(k.startswith("router.") for k in missing) and not unexpected
    x = inputs()
    nam.eval(), mixnam.eval()
    with torch.no_grad():
        torch.testing.assert_close(mixnam(x), nam(x))
        torch.testing.assert_close(mixnam.contributions(x), nam.contributions(x))


def mixed_partials(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """d^2 y / dx_i dx_j for i != j, per row (rows, n, n) with the diagonal zeroed."""
    x = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
    rows = [torch.autograd.grad(gradient[:, i].sum(), x, retain_graph=True)[0] for i in range(x.shape[1])]
    hessian = torch.stack(rows, dim=1)
    return hessian * (1 - torch.eye(x.shape[1], dtype=x.dtype))


def test_mixnam_d_has_zero_mixed_partial_derivatives_where_mixnam_has_not():
    x = inputs(dtype=torch.float64)
    mixnam_d, mixnam = small("mixnam_d").double().eval(), small("mixnam").double().eval()
    assert mixed_partials(mixnam_d, x).abs().max() == 0
    assert mixed_partials(mixnam, x).abs().max() > 1e-6


def interaction_differences(model: torch.nn.Module, x: torch.Tensor, step: float = 0.7) -> torch.Tensor:
    """f(x + h e_i + h e_j) - f(x + h e_i) - f(x + h e_j) + f(x) for all i < j: zero iff no interaction.

    Finite steps, because ReLU networks have zero second derivatives almost everywhere."""
    n = x.shape[1]
    shift = step * torch.eye(n, dtype=x.dtype)
    with torch.no_grad():
        single = torch.stack([model(x + shift[i]) for i in range(n)], dim=1)  # (rows, n)
        pairs = torch.stack([model(x + shift[i] + shift[j]) for i in range(n) for j in range(i + 1, n)], dim=1)
        base = model(x)[:, None]
    i, j = torch.triu_indices(n, n, offset=1)
    return pairs - single[:, i] - single[:, j] + base


@pytest.mark.parametrize("kind", ["mixnam_d", "nam", "nbm"])
def test_strictly_additive_models_have_no_feature_interactions(kind):
    model = small(kind).double()
    x = inputs(dtype=torch.float64)
    train_once(model, x)
    assert interaction_differences(model, x).abs().max() < 1e-12


@pytest.mark.parametrize("kind", ["mixnam", "mixnam_e", "na2m", "nb2m", "mlp"])
def test_routing_pairs_and_mlps_let_features_interact(kind):
    model = small(kind).double()
    x = inputs(dtype=torch.float64)
    train_once(model, x)
    assert interaction_differences(model, x).abs().max() > 1e-4


def test_mixnam_d_resamples_experts_only_while_training():
    model = small("mixnam_d")
    x = inputs()
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        model.train()
        first, second = model.expert_outputs(x)[1], model.expert_outputs(x)[1]
    assert not torch.equal(first, second)
    torch.testing.assert_close(first.sum(-1), torch.ones(64, N))


def eq8_by_hand(o: torch.Tensor, r: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """Eq. 8's penalties written out with explicit sums."""
    rows, n, experts = o.shape
    feature_out = (o * r).sum(-1)
    output = gamma / (n * rows) * (feature_out ** 2).sum()
    variation = lam / (n * rows * experts) * ((o - o.mean(-1, keepdim=True)) ** 2).sum()
    return output + variation


def test_penalties_follow_eq_8_and_vanish_when_gamma_and_lambda_are_zero():
    x = inputs()
    model = small("mixnam", output_penalty=0.3, variation_penalty=0.7)
    details = model.forward_details(x)
    torch.testing.assert_close(model.penalty(details),
                               eq8_by_hand(details.expert_outputs, details.routing_weights, 0.3, 0.7))
    model = small("mixnam", output_penalty=0.0, variation_penalty=0.0)
    assert model.penalty(model.forward_details(x)) == 0
    for kind in ("nam", "nbm"):
        model = small(kind, output_penalty=0.0)
        assert model.penalty(model.forward_details(x)) == 0


def extra_over_nam(model: MixNAM) -> int:
    """Parameters beyond the per-feature encoders and the intercept: experts and router."""
    return sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in model.encoder.parameters()) - 1


def paper_count(text: str) -> tuple[float, float]:
    """'37k' / '4.2M' -> (value, half of the last printed digit)."""
    scale = {"k": 1e3, "M": 1e6}[text[-1]]
    digits = text[:-1]
    decimals = len(digits.partition(".")[2])
    return float(digits) * scale, 0.5 * scale * 10 ** -decimals


def test_extra_parameters_over_nam_follow_table_9():
    n, d = 8, 128
    mixnam = MixNAM(n, hidden_dim=d, n_experts=4, top_k=4)
    assert extra_over_nam(mixnam) == n * 4 * ((n + 1) * d + 2) == 36_928
    nam = NAM(n, hidden_dims=[d] * 4, normalization="layer_norm")
    nam_size, mixnam_size = (sum(p.numel() for p in m.parameters()) for m in (nam, mixnam))
    assert mixnam_size - nam_size == 36_928 - n * (d + 1), "NAM's own linear head is the one expert it has"
    mixnam_d = MixNAM(n, hidden_dim=d, n_experts=64, top_k=64, diagonal_routing=True, gumbel_tau=0.1)
    assert extra_over_nam(mixnam_d) == n * 64 * (2 * d + 2)


@pytest.mark.skipif(not TABLE9.exists(), reason="the paper's tables are not beside this checkout")
def test_extra_parameters_match_table_9_on_every_dataset():
    for row in csv.DictReader(line for line in TABLE9.open() if not line.startswith("#")):
        n = int(row["n_features"])
        for key, model in (("mixnam_params", MixNAM(n, n_layers=1, n_experts=4, top_k=4)),
                           ("mixnam_d_params", MixNAM(n, n_layers=1, n_experts=64, top_k=64, diagonal_routing=True))):
            value, tolerance = paper_count(row[key])
            assert abs(extra_over_nam(model) - value) <= tolerance, (row["dataset"], key)


@pytest.mark.parametrize("normalization", ["layer_norm", "batch_norm", "none"])
@pytest.mark.parametrize("top_k", [4, 2])
def test_batched_layers_equal_a_per_feature_loop(normalization, top_k):
    model = small("mixnam", normalization=normalization, top_k=top_k)
    x = inputs()
    model.train()
    reference = LoopMixNAM(model).train()
    torch.testing.assert_close(reference(x), model(x))  # batch statistics in training mode
    model.eval()
    reference = LoopMixNAM(model).eval()
    torch.testing.assert_close(reference(x), model(x))  # running statistics in eval mode
