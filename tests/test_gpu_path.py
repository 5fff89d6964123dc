"""The GPU path: the paper's fp32 by default, one device per run that every step follows, nothing left
behind in the process, and a record that names the GPU.

The device-independent parts run everywhere. The CUDA-only branches run here with the device as a
parameter (torch is told CUDA is there and what it is); the tests marked `gpu` need a real CUDA device,
are skipped (and listed, `-ra`) without one, and run in `scripts/gpu_check.sh` on a GPU machine.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mixnam import devices
from mixnam.data import load
from mixnam.errors import ConfigError, MixnamError
from mixnam.models.layers import dropout, relu_dropout
from mixnam.runs import records
from mixnam.runs.records import environment, run_id
from mixnam.training.lightning import (
    NeuralTrainingModule,
    RandomState,
    TensorBatches,
    build,
    build_model,
)
from mixnam.validation import validate
from tests.conftest import ROOT
from tests.test_baselines import config as run_config
from tests.test_models import single_thread  # noqa: F401 - autouse fixture
from tests.test_training import config

CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (run scripts/gpu_check.sh on a GPU machine)")
TINY = ("model=mixnam", "model.n_layers=2", "model.hidden_dim=16", "model.batch_size=256", "dataset=housing")


@pytest.fixture(scope="module")
def housing(mirror):
    return load("housing", max_rows=1000, mirror=mirror)


@pytest.fixture
def pretend_cuda(monkeypatch):
    """torch believes a CUDA device is visible: the branches a GPU machine takes, without one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(records, "device_description",
                        lambda device: {"gpu": "NVIDIA H200", "gpu_driver": "580.0", "cuda": "13.0"}
                        if device == "cuda" else {})


# ------------------------------------------------------------------------------------- the defaults
def test_a_gpu_run_computes_in_the_papers_fp32_unless_asked_otherwise():
    cfg = config("trainer=gpu")
    assert (cfg.trainer.precision, cfg.trainer.matmul_precision) == ("32-true", "highest")
    assert (config("trainer=cpu").trainer.precision, config("trainer=cpu").trainer.matmul_precision) == \
        (cfg.trainer.precision, cfg.trainer.matmul_precision)


def test_the_same_run_on_a_gpu_is_the_same_run_so_a_cpu_record_answers_it():
    trainers = (["trainer=gpu"], ["trainer=cpu"], ["trainer.num_threads=1"])
    same = {run_id(run_config(*overrides)) for overrides in trainers}
    assert len(same) == 1
    assert run_id(run_config("trainer=gpu", "trainer.precision=bf16-mixed")) != run_id(run_config("trainer=gpu"))


# ------------------------------------------------------------------------- one device, every step
def test_several_devices_for_one_run_are_refused_before_any_work_with_the_fix():
    with pytest.raises(ConfigError, match="trainer.devices.*runs_per_job"):
        validate(config("trainer=gpu", "trainer.devices=2"))
    with pytest.raises(ConfigError, match="one run trains on one device"):
        devices.check_one_device(4)


def test_auto_means_cuda_when_it_is_visible_and_the_cpu_otherwise(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [devices.run_device(a) for a in ("auto", "cpu")] == ["cpu", "cpu"]
    with pytest.raises(MixnamError, match="no CUDA device is visible.*trainer=cpu"):
        devices.run_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert [devices.run_device(a) for a in ("auto", "gpu", "cuda", "cpu")] == ["cuda", "cuda", "cuda", "cpu"]


def test_with_auto_the_weights_batches_and_predictions_share_the_device_the_trainer_uses(pretend_cuda, tmp_path,
                                                                                           housing):
    estimator = build(config(*TINY, "trainer.accelerator=auto", run_dir=tmp_path), housing.problem)
    assert estimator.device == torch.device("cuda")  # what batches, predictions and explanations are moved to
    assert devices.lightning_accelerator(estimator.device.type) == "gpu"


def test_the_record_names_the_gpu_its_driver_and_cuda(pretend_cuda):
    env = environment(ROOT, "gpu")
    assert env["device"] == "cuda" and env["gpu"] == "NVIDIA H200" and env["gpu_driver"] and env["cuda"]
    assert environment(ROOT, "cpu")["device"] == "cpu" and "gpu" not in environment(ROOT, "cpu")


def test_a_cpu_record_names_the_processor_by_name():
    assert environment(ROOT, "cpu")["cpu_model"] not in ("", "x86_64", "aarch64")


# ------------------------------------------------------------------- the random state of one device
def test_a_cpu_run_saves_no_cuda_state_and_a_gpu_run_only_its_own_device(pretend_cuda, monkeypatch):
    batches = TensorBatches(torch.zeros(8, 2), torch.zeros(8), 4, seed=0)
    assert "cuda" not in RandomState(batches, torch.device("cpu")).state_dict()
    saved_devices = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: saved_devices.append(device) or torch.zeros(8))
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("saved every visible GPU"))
    state = RandomState(batches, torch.device("cuda", 0)).state_dict()
    assert saved_devices == [torch.device("cuda", 0)] and state["cuda"].shape == (8,)


def test_a_checkpoint_from_more_gpus_restores_into_the_one_this_run_uses(pretend_cuda, monkeypatch):
    batches = TensorBatches(torch.zeros(8, 2), torch.zeros(8), 4, seed=0)
    restored = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((state, device)))
    state = {"torch": torch.get_rng_state(), "batches": batches.generator.get_state(),
             "cuda": [torch.ones(4), torch.zeros(4)]}  # the former format: one state per visible GPU
    RandomState(batches, torch.device("cuda", 0)).load_state_dict(state)
    assert len(restored) == 1 and torch.equal(restored[0][0], torch.ones(4))


def test_a_cpu_fit_never_initialises_cuda(tmp_path, housing):
    build(config(*TINY, "trainer.max_epochs=2", run_dir=tmp_path), housing.problem).fit(housing.train, housing.val)
    assert not torch.cuda.is_initialized()


# ------------------------------------------------------------------- a run leaves the process as found
def test_a_run_leaves_the_process_as_it_found_it(tmp_path, housing):
    before = (torch.get_float32_matmul_precision(), torch.are_deterministic_algorithms_enabled(),
              torch.get_num_threads())
    estimator = build(config(*TINY, "trainer.max_epochs=2", "trainer.deterministic=true",
                             "trainer.matmul_precision=medium", "trainer.num_threads=2", run_dir=tmp_path),
                      housing.problem)
    estimator.fit(housing.train, housing.val)
    assert (torch.get_float32_matmul_precision(), torch.are_deterministic_algorithms_enabled(),
            torch.get_num_threads()) == before


# ------------------------------------------------------------------------------ the step on a GPU
def test_the_training_step_compiles_to_one_graph(housing):
    model = build_model(config(*TINY).model, 8).train()
    module = NeuralTrainingModule(model, housing.problem, 1e-3, 0.0, 10)
    x, y = torch.randn(64, 8), torch.randn(64)
    explained = torch._dynamo.explain(module.loss)(x, y)
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons


def test_under_compile_dropout_is_torchs_own_op_with_the_same_keep_rate():
    x = torch.ones(200_000)
    kept = torch.compile(lambda t: relu_dropout(t, 0.3, True))(x)
    assert abs((kept > 0).float().mean().item() - 0.7) < 0.01
    assert torch.allclose(kept[kept > 0], torch.full_like(kept[kept > 0], 1 / 0.7))


# ----------------------------------------------------------------------- on a real CUDA device
@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("fn", [dropout, relu_dropout])
def test_cuda_dropout_keeps_1_minus_p_and_scales_by_its_inverse(fn):
    kept = fn(torch.ones(1_000_000, device="cuda"), 0.2, True)
    assert abs((kept > 0).float().mean().item() - 0.8) < 0.003
    assert torch.allclose(kept[kept > 0], torch.tensor(1 / 0.8, device="cuda"))


@pytest.mark.gpu
@gpu
def test_cuda_dropout_masks_repeat_after_the_saved_state_is_restored():
    batches = TensorBatches(torch.zeros(8, 2), torch.zeros(8), 4, seed=0)
    keeper = RandomState(batches, torch.device("cuda", torch.cuda.current_device()))
    state = keeper.state_dict()
    first = relu_dropout(torch.ones(10_000, device="cuda"), 0.5, True)
    keeper.load_state_dict(state)
    assert torch.equal(relu_dropout(torch.ones(10_000, device="cuda"), 0.5, True), first)


@pytest.mark.gpu
@gpu
def test_cuda_forward_matches_the_cpu_in_fp32():
    model = build_model(config(*TINY).model, 8).eval()
    x = torch.randn(512, 8)
    with torch.no_grad():
        on_cpu = model(x)
        on_gpu = model.to("cuda")(x.to("cuda")).cpu()
    np.testing.assert_allclose(on_gpu.numpy(), on_cpu.numpy(), rtol=1e-4, atol=1e-5)


def test_xgboost_trains_on_the_gpu_a_run_asks_for_and_on_the_cpu_otherwise(pretend_cuda, housing):
    from mixnam.models.xgboost import build as build_xgboost

    on_gpu = build_xgboost(run_config("model=xgboost", "trainer=gpu"), housing.problem)
    assert on_gpu.model.get_params()["device"] == "cuda"
    assert build_xgboost(run_config("model=xgboost"), housing.problem).model.get_params()["device"] == "cpu"
