"""`fidelity=code` switches each known difference between the paper and the authors' code, and only that."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from mixnam.contracts import Problem
from mixnam.data.splits import tail
from mixnam.models.layers import BatchedMLP, GroupBatchNorm
from mixnam.models.mixnam import MixNAM
from mixnam.training.fidelity import monitor_name, patience, selection_score
from mixnam.training.lightning import build_model
from tests.test_run import records, run_py
from tests.test_training import config

SWITCHES = {"gumbel_at_eval": True, "selection": "auc_f1", "shared_encoder_norm": True, "variation_correction": 1,
            "year_validation": "carve", "patience_extra_epochs": 1}


def test_the_code_group_sets_every_switch_and_the_paper_group_none():
    code, paper = config("fidelity=code").fidelity, config().fidelity
    assert {k: code[k] for k in SWITCHES} == SWITCHES and code.name == "code"
    assert all(value is None for value in paper.values()), "null = the paper's behaviour; old run ids stay valid"


def tiny_mixnam_d(**switches) -> MixNAM:
    torch.manual_seed(0)
    return MixNAM(3, n_layers=1, hidden_dim=8, n_experts=4, top_k=4, diagonal_routing=True, gumbel_tau=0.1,
                  dropout=0.0, dropout_expert=0.0, **switches).eval()


def test_gumbel_at_eval_makes_mixnam_d_noisy_at_validation_and_test_only_when_switched_on():
    x = torch.randn(64, 3)
    paper, code = tiny_mixnam_d(), tiny_mixnam_d(gumbel_at_eval=True)
    assert torch.equal(paper(x), paper(x)), "the paper: Gumbel noise in training only"
    assert not torch.equal(code(x), code(x)), "the authors' code: noise in every forward pass"
    code.load_state_dict(paper.state_dict())
    assert torch.equal(code.forward_details(x).expert_outputs, paper.forward_details(x).expert_outputs)


def test_selection_adds_a_tenth_of_macro_f1_on_classification_only():
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9, 0.2, 0.7, 0.3, 0.8])
    classification = Problem("classification", "auc", ("a",))
    auc, f1 = roc_auc_score(y, p), f1_score(y, p > 0.5, average="macro")
    assert selection_score(classification, y, p, "metric") == pytest.approx(auc)
    assert selection_score(classification, y, p, "auc_f1") == pytest.approx(auc + 0.1 * f1)
    assert monitor_name(classification, "auc_f1") == "val_auc_f1"
    regression = Problem("regression", "rmse", ("a",))
    assert selection_score(regression, y, p, "auc_f1") == selection_score(regression, y, p, "metric")
    assert monitor_name(regression, "auc_f1") == "val_rmse"


@pytest.mark.parametrize("normalization", ["layer_norm", "batch_norm"])
def test_shared_encoder_norm_is_one_module_in_every_encoder_layer(normalization):
    def norms(encoder):
        return [m for m in encoder if isinstance(m, (torch.nn.LayerNorm, GroupBatchNorm))]

    separate = BatchedMLP(3, 1, [8, 8, 8], normalization)
    shared = BatchedMLP(3, 1, [8, 8, 8], normalization, shared_norm=True)
    assert len({id(m) for m in norms(separate)}) == 3 and len({id(m) for m in norms(shared)}) == 1
    assert [type(m) for m in separate] == [type(m) for m in shared], "the same layers otherwise"
    if normalization == "batch_norm":  # the running statistics of all layers are mixed in the one module
        shared.train()(torch.randn(3, 32, 1))
        assert int(norms(shared)[0].num_batches_tracked) == 3


def test_variation_correction_divides_the_lambda_term_by_c_minus_one():
    x = torch.randn(32, 3)
    paper = MixNAM(3, n_layers=1, hidden_dim=8, n_experts=4, top_k=4, variation_penalty=1.0).eval()
    code = MixNAM(3, n_layers=1, hidden_dim=8, n_experts=4, top_k=4, variation_penalty=1.0,
                  variation_correction=1).eval()
    code.load_state_dict(paper.state_dict())
    with torch.no_grad():
        by_c, by_c_minus_one = paper.penalty(paper.forward_details(x)), code.penalty(code.forward_details(x))
    assert by_c_minus_one == pytest.approx(by_c * 4 / 3)


def test_build_model_passes_the_switches_only_to_models_that_take_them():
    cfg = config("model=mixnam", "fidelity=code")
    assert build_model(cfg.model, 3, cfg.fidelity).variation_correction == 1
    assert build_model(cfg.model, 3, config().fidelity).variation_correction == 0
    build_model(config("model=nam").model, 3, cfg.fidelity)  # NAM takes none of them: no error


def test_year_validation_carve_ignores_nodes_validation_rows(tmp_path):
    n_train = 100
    np.savetxt(tmp_path / "stratified_train_idx.txt", np.arange(0, 80), fmt="%d")
    np.savetxt(tmp_path / "stratified_valid_idx.txt", np.arange(80, 100), fmt="%d")
    paper = tail(n_train + 20, None, 20, seed=3, fold_dir=tmp_path)
    code = tail(n_train + 20, None, 20, seed=3, fold_dir=tmp_path, validation="carve")
    assert np.array_equal(paper.val, np.arange(80, 100))
    assert len(code.val) == 16 and set(code.val) | set(code.train) == set(range(80)), "20% of NODE's training rows"
    assert np.array_equal(code.test, paper.test) and "validation rows unused" in code.source
    assert np.array_equal(tail(120, None, 20, 3, tmp_path, "carve").val, code.val), "seeded"


def test_patience_adds_one_epoch_as_the_authors_stopping_rule_does():
    # the authors stop once epoch - best_epoch > M // 4: after M // 4 + 1 epochs without improvement
    assert [patience(m, 0.25) for m in (4, 10, 1000)] == [1, 2, 250]
    assert [patience(m, 0.25, 1) for m in (4, 10, 1000)] == [2, 3, 251]


def test_fidelity_code_runs_end_to_end_and_its_record_says_so(tmp_path):
    """MixNAM-D on Income meets every switch but Year's (docs/fidelity.md: the smoke runs of all three models)."""
    runs = tmp_path / "runs"
    run_py("model=mixnam_d", "dataset=income", "fidelity=code", "profile=smoke", "data.max_rows=600",
           "trainer.num_threads=1", f"paths.runs_dir={runs}")
    [record] = records(runs)
    assert record["status"] == "completed" and record["fidelity"] == "code"
    assert {k: record["config"]["fidelity"][k] for k in SWITCHES} == SWITCHES
    assert 0.0 <= record["metrics"]["test"]["auc"] <= 1.0  # two epochs on 600 rows: a working run, not a good one
