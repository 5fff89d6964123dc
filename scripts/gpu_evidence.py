"""The missing paper-budget Housing cells of Tables 1, 2, 3 and 8, several runs at once on one GPU, until time is up.

    python scripts/gpu_evidence.py [--minutes 9] [--runs-at-once N] [override ...]     (make gpu-evidence MINUTES=9)

A paper-budget MixNAM Housing run is a thousand epochs of eight small steps: on a GPU it is bound by
kernel launches on one CPU core, so one run leaves the GPU mostly idle. This keeps N runs going at once
(default: the allowed cores less two, the cores divided among them as threads), takes the jobs in the
order that decides the paper's claims first (the lambda trade-off at 3 seeds, the expert grid at 3
seeds, then the seeds that complete each cell), skips every job with a completed record (in
results/runs or kept in results/records), and at the deadline stops the runs still going with SIGTERM,
which they answer by writing `last.ckpt` and an `interrupted` record: `resume=true` continues them next
time. Finished records are kept for `make keep-records` like any other run's.
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mixnam.runs.records import find_completed  # noqa: E402
from mixnam.sweeps import CONF_DIR, expand, product  # noqa: E402
from mixnam.training.resources import allowed_cores  # noqa: E402

# (experiment, overrides): the claims first (Tables 2/3 at 3 seeds per lambda, Table 8's K-of-C slice
# at 3 seeds), then the seeds that complete every Housing cell of Tables 1, 2 and 8.
QUEUE = (
    ("table2", ("seed=0,1,2",)),
    ("table8", ("model=mixnam", "model.n_experts=2,4,8", "model.top_k=2", "seed=0,1,2")),
    ("table8", ("model=mixnam", "model.n_experts=8", "model.top_k=4,8", "seed=0,1,2")),
    ("table1", ("dataset=housing", "model=mixnam,na2m,nbm,nam,mlp")),
    ("table2", ()),
    ("table8", ("model=mixnam",)),
    ("table8", ("model=mixnam_e",)),
)


def missing_jobs(extra: list[str]) -> list[list[str]]:
    """Every queued job without a completed record, in queue order, each once."""
    from hydra import compose, initialize_config_dir

    jobs, seen = [], set()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for experiment, overrides in QUEUE:
            base = [f"experiment={experiment}", f"paths.root={ROOT}", *extra]
            sweeper = compose("config", base, return_hydra_config=True).hydra.sweeper
            params = [f"{k}={v}" for k, v in (sweeper.params or {}).items() if k not in {o.split("=")[0] for o in overrides}]
            for job in expand(product(params + list(overrides)), sweeper.get("cells") or [],
                              lambda job: compose("config", base + job)):
                cfg = compose("config", base + job)
                key = (cfg.experiment_name, str(cfg.model.name), cfg.seed, cfg.split, str(cfg.model))
                if key in seen or find_completed(cfg) is not None:
                    continue
                seen.add(key)
                jobs.append([f"experiment={experiment}", *job])
    return jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=9.0, help="stop (SIGTERM, resumable) the runs still going then")
    parser.add_argument("--runs-at-once", type=int, default=max(1, allowed_cores() - 2))
    parser.add_argument("--dry-run", action="store_true", help="list the jobs in order and stop")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every run (e.g. trainer.precision=...)")
    args = parser.parse_args()
    deadline = time.monotonic() + 60 * args.minutes
    jobs = missing_jobs(args.overrides)
    print(f"gpu-evidence: {len(jobs)} jobs without a completed record; {args.runs_at_once} at once for "
          f"{args.minutes:g} min", flush=True)
    if args.dry_run:
        print("\n".join(" ".join(job) for job in jobs))
        return 0
    threads = max(1, allowed_cores() // args.runs_at_once)
    logs = ROOT / "outputs" / "gpu_evidence"
    logs.mkdir(parents=True, exist_ok=True)
    running: dict[subprocess.Popen, tuple[list[str], float]] = {}
    finished = failed = 0
    started_at = time.monotonic()
    while (jobs or running) and time.monotonic() < deadline:
        while jobs and len(running) < args.runs_at_once:
            job = jobs.pop(0)
            name = "_".join(o.split("=")[-1] for o in job).replace("/", "-")[:120]
            command = [sys.executable, str(ROOT / "run.py"), *job, "trainer=gpu", "resume=true",
                       f"trainer.num_threads={threads}", "trainer.enable_progress_bar=false", *args.overrides]
            with open(logs / f"{name}.log", "w") as log:
                running[subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)] = (job, time.monotonic())
        time.sleep(1)
        for process in [p for p in running if p.poll() is not None]:
            job, began = running.pop(process)
            ok = process.returncode == 0
            finished, failed = finished + ok, failed + (not ok)
            print(f"[{(time.monotonic() - started_at) / 60:5.1f} min] {'done' if ok else f'FAILED ({process.returncode})'}"
                  f" in {time.monotonic() - began:4.0f} s: {' '.join(job)}", flush=True)
    for process in running:  # time is up: they write last.ckpt and an `interrupted` record
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
    print(f"gpu-evidence: {finished} runs completed, {failed} failed, {len(running)} stopped at the deadline "
          f"(resume=true continues them), {len(jobs)} not started", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
