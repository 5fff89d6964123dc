"""Training throughput of MixNAM's batched per-feature layers against two other ways to write them.

For Housing-, Credit- and Year-shaped random data (n features, batch B) and the paper's architecture
(4 layers, d = 128, C = K = 4), times forward + backward + AdamW step of
  (a) ours: weights (n, in, out), one baddbmm per layer (mixnam.models.layers.BatchedLinear);
  (b) a plain loop over per-feature nn.Sequential networks (tests/reference_loops.py);
  (c) the authors' multi-channel layer: broadcast multiply of (n, out, in) weights with the inputs,
      then a sum over `in`, which materialises an (B, n, out, in) tensor per layer;
and prints samples/s of (a), (b) and (c) as ratios to (a), the GFLOP/s (a) achieves, and a plain
float32 matmul's GFLOP/s on the same device. (c) runs on a smaller batch (its intermediate
tensors grow as B * n * d^2); its samples/s are per row, so the ratio still compares like with like.

    python scripts/bench_models.py [--device cuda] [--seconds 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.reference_loops

from mixnam.models.layers import BatchedLinear  # noqa: E402
from mixnam.models.mixnam import MixNAM  # noqa: E402
from tests.reference_loops import LoopMixNAM  # noqa: E402

SHAPES = {"housing": (8, 2048), "credit": (30, 2048), "year": (90, 512)}
LAYERS, WIDTH, EXPERTS = 4, 128, 4


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


def steps_per_second(step: Callable[[], object], device: torch.device, seconds: float, min_steps: int = 2) -> float:
    """Calls of `step` per second after one warm-up call (allocations, kernel selection)."""
    step()
    synchronize(device)
    steps, start = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - start < seconds:
        step()
        steps += 1
        synchronize(device)
    return steps / (time.perf_counter() - start)


def samples_per_second(model: torch.nn.Module, n: int, batch: int, device: torch.device, seconds: float) -> float:
    """Rows per second of training steps (forward, backward, AdamW)."""
    x, y = torch.randn(batch, n, device=device), torch.randn(batch, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()

    return batch * steps_per_second(step, device, seconds)


def training_flops_per_row(n: int) -> float:
    """Multiply-adds x 2 of one row's forward pass (encoders, experts, router), x 3 for training."""
    encoder = WIDTH + (LAYERS - 1) * WIDTH * WIDTH
    forward = 2 * (n * (encoder + WIDTH * EXPERTS) + (n * WIDTH) * (n * EXPERTS))
    return 3 * forward


def matmul_gflops(device: torch.device, seconds: float) -> float:
    a, b = torch.randn(2048, 1024, device=device), torch.randn(1024, 1024, device=device)
    return steps_per_second(lambda: a @ b, device, seconds) * 2 * 2048 * 1024 * 1024 / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per measurement")
    parser.add_argument("--broadcast-batch", type=int, default=128, help="batch of variant (c)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_gflops(device, args.seconds)
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(f"MixNAM training step ({LAYERS} layers, d={WIDTH}, C=K={EXPERTS}) on {device}{threads}; "
          f"plain fp32 matmul: {peak:.1f} GFLOP/s")
    print(f"{'shape':<8} {'n':>3} {'B':>5} | {'(a) samples/s':>13} {'(b) loop':>9} {'(c) broadcast':>14} | "
          f"{'(a) GFLOP/s':>11} {'of matmul':>9}")
    for name, (n, batch) in SHAPES.items():
        def paper_mixnam() -> MixNAM:
            return MixNAM(n, n_layers=LAYERS, hidden_dim=WIDTH, n_experts=EXPERTS, top_k=EXPERTS).to(device)

        batched = paper_mixnam()
        ours = samples_per_second(batched, n, batch, device, args.seconds)
        loop = samples_per_second(LoopMixNAM(batched).to(device), n, batch, device, args.seconds)
        small_batch = min(batch, args.broadcast_batch)
        broadcast = samples_per_second(broadcast_variant(paper_mixnam()), n, small_batch, device, args.seconds)
        achieved = ours * training_flops_per_row(n) / 1e9
        print(f"{name:<8} {n:>3} {batch:>5} | {ours:>13,.0f} {loop / ours:>8.2f}x "
              f"{broadcast / ours:>8.3f}x@{small_batch:<4} | {achieved:>11.1f} {achieved / peak:>8.0%}")


if __name__ == "__main__":
    main()
