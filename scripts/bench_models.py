"""Training throughput of MixNAM's step against the former step and two other ways to write the layers.

For Housing-, Income- and Credit-shaped random data (n features, batch B) and the paper's architecture
(4 layers, d = 128, C = K = 4, dropout 0.1, expert dropout 0.2), times forward + backward + AdamW of
  new:       the lean step (mixnam.models.layers: 16-bit dropout masks, ReLU + dropout in one pass,
             fused AdamW), in the precision asked for;
  before:    the former step, kept in tests/reference_step.py (nn.ReLU + nn.Dropout, per-tensor AdamW);
  loop:      a plain loop over per-feature nn.Sequential networks (tests/reference_loops.py);
  broadcast: the authors' multi-channel layer, a broadcast multiply of (n, out, in) weights with the
             inputs and a sum over `in`, which materialises a (B, n, out, in) tensor per layer;
all on the same data, measured in alternating rounds in this one process (each variant's best round,
so a busy machine slows all alike). It prints samples/s, the ratios new / other, the GFLOP/s the new
step reaches against a plain matmul of the same precision, and the wall time of one full
paper-config epoch through the real trainer (Lightning: train, validation, best.pt and last.ckpt)
on Housing-, Income- and Credit-shaped data. "broadcast" runs on a smaller batch (its intermediate
tensors grow as B * n * d^2); samples/s are per row, so its ratio still compares like with like.

With --contention it prints instead the new step's samples/s with the default threads (what a run
starting now would choose, `mixnam.training.resources.thread_choice`), one thread and every allowed core,
first as the machine is, then beside one competing busy process of its own (killed by its PID when the
table is done; it stops by itself after CONTENDER_SECONDS_PER_CELL per cell should the bench die first):
the default should stay near one thread's rate under that load and beat it when the machine is idle (issue 27).

    python scripts/bench_models.py [--device cuda] [--precision bf16-mixed] [--seconds 2] [--threads N]
                                   [--epochs housing,income|none] [--steady housing|none] [--contention]
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import mixnam  # noqa: F401 - before torch: OpenMP's idle threads sleep (OMP_WAIT_POLICY, mixnam.training.resources)
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.reference_*

from mixnam.contracts import Arrays, Problem  # noqa: E402
from mixnam.models.layers import BatchedLinear  # noqa: E402
from mixnam.models.mixnam import MixNAM  # noqa: E402
from mixnam.sweeps import CONF_DIR  # noqa: E402
from mixnam.training.lightning import build  # noqa: E402
from mixnam.training.resources import PRECISIONS, allowed_cores, thread_choice  # noqa: E402
from tests.reference_loops import LoopMixNAM  # noqa: E402
from tests.reference_step import todays_layers, todays_optimizer  # noqa: E402

print = functools.partial(print, flush=True)  # lines appear as they are measured, also through a pipe
STEP_SHAPES = {"housing": (8, 2048), "income": (14, 2048), "credit": (30, 2048)}  # features, batch
# features, train rows, validation rows of one CV fold / the fixed split
EPOCH_SHAPES = {"housing": (8, 14447, 2065), "income": (14, 20839, 5210), "credit": (30, 182276, 45569)}
LAYERS, WIDTH, EXPERTS = 4, 128, 4
ROUNDS = 3
CONTENDER_SECONDS_PER_CELL = 30  # the competing process's time bound, should the bench die before it ends it
BUSY_LOOP = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass"


class BroadcastLinear(BatchedLinear):
    """The authors' layer: elementwise product with the weights broadcast over the batch, summed over `in`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(-1) * self.weight.unsqueeze(1)).sum(-2) + self.bias


def broadcast_variant(model: MixNAM) -> MixNAM:
    for module in model.modules():
        if type(module) is BatchedLinear:
            module.__class__ = BroadcastLinear
    return model


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(device: torch.device, precision: str):
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def timed_rate(call: Callable[[], object], device: torch.device, seconds: float, min_calls: int = 2) -> float:
    """Calls per second for about `seconds`."""
    synchronize(device)
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        call()
        calls += 1
    synchronize(device)
    return calls / (time.perf_counter() - start)


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, n: int, batch: int, device: torch.device,
                  precision: str) -> Callable[[], None]:
    x, y = torch.randn(batch, n, device=device), torch.randn(batch, device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision):
            logit = model(x)
        torch.nn.functional.mse_loss(logit.float(), y).backward()
        optimizer.step()

    return step


def best_samples_per_second(steps: dict[str, tuple[Callable[[], None], int]], device: torch.device,
                            seconds: float) -> dict[str, float]:
    """Rows per second of each step: its best of ROUNDS rounds, the variants interleaved."""
    for step, _ in steps.values():
        step()  # warm-up: allocations, kernel selection
    best = dict.fromkeys(steps, 0.0)
    for _ in range(ROUNDS):
        for name, (step, batch) in steps.items():
            best[name] = max(best[name], batch * timed_rate(step, device, seconds / ROUNDS))
    return best


def training_flops_per_row(n: int) -> float:
    """Multiply-adds x 2 of one row's forward pass (encoders, experts, router), x 3 for training."""
    encoder = WIDTH + (LAYERS - 1) * WIDTH * WIDTH
    forward = 2 * (n * (encoder + WIDTH * EXPERTS) + (n * WIDTH) * (n * EXPERTS))
    return 3 * forward


def matmul_gflops(device: torch.device, precision: str, seconds: float) -> float:
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float32
    a, b = torch.randn(2048, 1024, device=device, dtype=dtype), torch.randn(1024, 1024, device=device, dtype=dtype)
    a @ b
    return timed_rate(lambda: a @ b, device, seconds) * 2 * 2048 * 1024 * 1024 / 1e9


def step_table(device: torch.device, precision: str, seconds: float, broadcast_batch: int) -> dict[str, float]:
    """Prints the step comparison; returns the new step's samples/s per shape."""
    new_rates = {}
    peak = matmul_gflops(device, precision, seconds)
    print(f"\nTraining step, MixNAM ({LAYERS} layers, d={WIDTH}, C=K={EXPERTS}, dropout 0.1 / 0.2); new step in "
          f"{precision}, the others in 32-true; plain {precision} matmul: {peak:.1f} GFLOP/s")
    print(f"{'shape':<8} {'n':>3} {'B':>5} | {'new':>8} {'before':>8} {'loop':>8} {'broadcast':>9} samples/s | "
          f"{'new/before':>10} {'new/loop':>8} {'new/broadcast':>13} | {'new GFLOP/s':>11} {'of matmul':>9}")
    for name, (n, batch) in STEP_SHAPES.items():
        torch.manual_seed(0)
        model = MixNAM(n, n_layers=LAYERS, hidden_dim=WIDTH, n_experts=EXPERTS, top_k=EXPERTS, dropout=0.1,
                       dropout_expert=0.2).to(device)
        before, loop, broadcast = todays_layers(model), LoopMixNAM(model).to(device), broadcast_variant(todays_layers(model))
        small = min(batch, broadcast_batch)
        steps = {
            "new": (training_step(model, torch.optim.AdamW(model.parameters(), fused=True), n, batch, device,
                                  precision), batch),
            "before": (training_step(before, todays_optimizer(before.parameters(), 1e-3), n, batch, device, "32-true"),
                       batch),
            "loop": (training_step(loop, todays_optimizer(loop.parameters(), 1e-3), n, batch, device, "32-true"), batch),
            "broadcast": (training_step(broadcast, todays_optimizer(broadcast.parameters(), 1e-3), n, small, device,
                                        "32-true"), small),
        }
        rate = best_samples_per_second(steps, device, seconds)
        new_rates[name] = rate["new"]
        achieved = rate["new"] * training_flops_per_row(n) / 1e9
        print(f"{name:<8} {n:>3} {batch:>5} | {rate['new']:>8,.0f} {rate['before']:>8,.0f} {rate['loop']:>8,.0f} "
              f"{rate['broadcast']:>9,.0f}@{small:<3} | {rate['new'] / rate['before']:>9.2f}x "
              f"{rate['new'] / rate['loop']:>7.2f}x {rate['new'] / rate['broadcast']:>12.1f}x | {achieved:>11.1f} "
              f"{achieved / peak:>8.0%}")
    return new_rates


def epoch_seconds(dataset: str, device: torch.device, precision: str, threads: int | None, epochs: int = 1) -> float:
    """Wall time of an `epochs`-epoch fit through the real trainer with the dataset's paper config (random data)."""
    n, n_train, n_val = EPOCH_SHAPES[dataset]
    overrides = ["model=mixnam", f"dataset={dataset}", f"trainer.max_epochs={epochs}", "trainer.checkpoint_every_n_epochs=1",
                 "trainer.enable_progress_bar=false", f"trainer.precision={precision}",
                 f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}"]
    if threads:
        overrides.append(f"trainer.num_threads={threads}")
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    rng = np.random.default_rng(0)
    task = ("regression", "rmse") if dataset == "housing" else ("classification", "auc")
    problem = Problem(*task, tuple(f"x{i}" for i in range(n)))

    def part(rows: int) -> Arrays:
        y = rng.normal(size=rows) if task[0] == "regression" else (rng.random(rows) < 0.3).astype(np.float32)
        return Arrays(rng.normal(size=(rows, n)).astype(np.float32), y.astype(np.float32))

    train, val = part(n_train), part(n_val)
    with tempfile.TemporaryDirectory() as run_dir:
        with open_dict(cfg):
            cfg.run_dir = run_dir
        estimator = build(cfg, problem)
        start = time.perf_counter()
        estimator.fit(train, val)
        return time.perf_counter() - start


def dataset_names(text: str) -> list[str]:
    """`--epochs` / `--steady`: comma-separated dataset shapes, or `none` (or nothing) for none."""
    names = [name for name in text.split(",") if name and name != "none"]
    if unknown := [name for name in names if name not in EPOCH_SHAPES]:
        raise argparse.ArgumentTypeError(f"unknown dataset {', '.join(unknown)}: use some of {', '.join(EPOCH_SHAPES)} "
                                         "(comma-separated) or none")
    return names


@contextlib.contextmanager
def competing_busy_process(seconds: float) -> Iterator[subprocess.Popen]:
    """A process that keeps one core busy for at most `seconds`, killed by its PID when the block ends."""
    contender = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(seconds)])
    try:
        yield contender
    finally:
        contender.kill()
        contender.wait()


def threaded(step: Callable[[], None], threads: int) -> Callable[[], None]:
    def step_on_threads() -> None:
        torch.set_num_threads(threads)
        step()

    return step_on_threads


def contention_rates(steps: dict[str, tuple[Callable[[], None], int]], device: torch.device, seconds: float
                     ) -> tuple[int, str, dict[str, dict[str, float]]]:
    """Threads the default chooses now, why, and per shape the samples/s at the default, one and all cores."""
    choice = thread_choice(None)
    counts = {"default": choice.threads, "1 thread": 1, "all cores": allowed_cores()}
    rates = {}
    for shape, (step, batch) in steps.items():
        variants = {name: (threaded(step, threads), batch) for name, threads in counts.items()}
        rates[shape] = best_samples_per_second(variants, device, seconds)
    return choice.threads, choice.reason, rates


def contention_table(device: torch.device, precision: str, seconds: float) -> None:
    """The new step at the default threads, one thread and all cores, idle and beside one busy process."""
    steps = {}
    for shape, (n, batch) in STEP_SHAPES.items():
        torch.manual_seed(0)
        model = MixNAM(n, n_layers=LAYERS, hidden_dim=WIDTH, n_experts=EXPERTS, top_k=EXPERTS, dropout=0.1,
                       dropout_expert=0.2).to(device)
        steps[shape] = (training_step(model, torch.optim.AdamW(model.parameters(), fused=True), n, batch, device,
                                      precision), batch)
    idle = contention_rates(steps, device, seconds)
    with competing_busy_process(CONTENDER_SECONDS_PER_CELL * len(steps) * 3) as contender:
        time.sleep(0.2)  # its interpreter is up and spinning
        loaded = contention_rates(steps, device, seconds)
    cores = allowed_cores()
    print(f"\nThe new step ({precision}) under contention, samples/s (best of {ROUNDS} rounds, variants interleaved); "
          f"{cores} allowed cores")
    for label, (threads, reason, _) in (("as found", idle), (f"beside busy PID {contender.pid}", loaded)):
        print(f"  default {label}: {threads} thread{'s' if threads > 1 else ''} ({reason})")
    header = f"{'default':>8} {'1 thread':>8} {f'{cores} cores':>8} {'def/1t':>6} {f'{cores}c/1t':>6}"
    print(f"{'shape':<8} | {'as found':^{len(header)}} | {'beside one busy process':^{len(header)}}")
    print(f"{'':<8} | {header} | {header}")
    for shape in steps:
        cells = []
        for _, _, rates in (idle, loaded):
            rate = rates[shape]
            cells.append(f"{rate['default']:>8,.0f} {rate['1 thread']:>8,.0f} {rate['all cores']:>8,.0f} "
                         f"{rate['default'] / rate['1 thread']:>5.2f}x {rate['all cores'] / rate['1 thread']:>5.2f}x")
        print(f"{shape:<8} | {cells[0]} | {cells[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="32-true", choices=PRECISIONS, help="precision of the new step")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per variant and shape")
    parser.add_argument("--broadcast-batch", type=int, default=128, help="batch of the broadcast variant")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: the cores not kept busy by other processes)")
    parser.add_argument("--epochs", type=dataset_names, default=list(EPOCH_SHAPES),
                        help="datasets whose one-epoch wall time to take (comma-separated, or none)")
    parser.add_argument("--steady", type=dataset_names, default=["housing", "income"],
                        help="datasets whose second epoch to time too, split into steps and the trainer's own cost")
    parser.add_argument("--contention", action="store_true",
                        help="only the new step at the default, one and all threads, idle and beside a busy process")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.contention:
        print(f"mixnam bench on {device}, torch {torch.__version__}")
        contention_table(device, args.precision, args.seconds)
        return
    threads = thread_choice(args.threads)
    torch.set_num_threads(threads.threads)
    where = f"{device}, threads: {threads.threads} ({threads.reason})" if device.type == "cpu" \
        else torch.cuda.get_device_name(device)
    print(f"mixnam bench on {where}, torch {torch.__version__}")
    new_rates = step_table(device, args.precision, args.seconds, args.broadcast_batch)
    datasets = args.epochs
    if datasets:
        print(f"\nOne paper-config MixNAM epoch through the trainer ({args.precision}; train + validation + best.pt + "
              "last.ckpt, Lightning's setup included):")
        for dataset in datasets:
            n, n_train, n_val = EPOCH_SHAPES[dataset]
            if device.type == "cuda":  # the first fit of a process pays CUDA's and cuDNN's start-up: not an epoch's cost
                epoch_seconds(dataset, device, args.precision, args.threads)
            seconds = epoch_seconds(dataset, device, args.precision, args.threads)
            print(f"  {dataset:<8} n={n:<3} train {n_train:>7,} rows, val {n_val:>6,} rows: {seconds:7.2f} s")
            if dataset in args.steady:  # a second epoch, without the setup: what 1,000 epochs repeat
                steady = epoch_seconds(dataset, device, args.precision, args.threads, epochs=2) - seconds
                steps = n_train / new_rates[dataset]
                print(f"  {'':<8} its next epoch: {steady:5.2f} s = training steps at the rate above {steps:5.2f} s + "
                      f"validation, checkpoints and Lightning's loop {steady - steps:5.2f} s ({1 - steps / steady:.0%})")


if __name__ == "__main__":
    main()
