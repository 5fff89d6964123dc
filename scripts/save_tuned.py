"""Save the best trial of a hyper-parameter search as the model's tuned config for that dataset.

    python scripts/save_tuned.py outputs/hparam_search/housing [--out conf/tuned] [--force]

reads the optuna sweeper's `optimization_results.yaml` in that directory and a trial's `.hydra/`
(dataset, model, direction) and writes `<out>/<model>/<dataset>.yaml`, which `run.py model=<model> dataset=<dataset>`
then picks up. It refuses a search that optimised in the wrong direction for the dataset's metric,
and will not replace an existing tuned file (e.g. the paper's Table 5 values) without --force.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from mixnam.data.datasets import get_spec

ROOT = Path(__file__).resolve().parents[1]


def tuned_config(sweep_dir: Path) -> tuple[Path, str]:
    """(relative path of the tuned file, its YAML text) for the search in `sweep_dir`."""
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    trial = next(sweep_dir.glob("*/.hydra"))
    dataset, model = (OmegaConf.load(trial / "config.yaml")[key].name for key in ("dataset", "model"))
    sweeper = OmegaConf.load(trial / "hydra.yaml").hydra.sweeper
    metric = get_spec(dataset).metric
    wanted = "maximize" if metric == "auc" else "minimize"
    if sweeper.direction != wanted:
        raise SystemExit(f"error: the search {sweeper.direction}d validation {metric} on {dataset}; it must {wanted} "
                         f"it. Rerun with hydra.sweeper.direction={wanted}.")
    values = OmegaConf.from_dotlist([f"{key}={value}" for key, value in results.best_params.items()])
    header = (f"# @package _global_\n# {model} on {dataset}: the best of {sweeper.n_trials} trials of "
              f"experiment=hparam_search (validation {metric} {results.best_value:.4g}, split 0, seed 0),\n"
              f"# saved by scripts/save_tuned.py from {sweep_dir}.\n")
    return Path(model) / f"{dataset}.yaml", header + OmegaConf.to_yaml(values)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="the search's hydra.sweep.dir")
    parser.add_argument("--out", type=Path, default=ROOT / "conf" / "tuned")
    parser.add_argument("--force", action="store_true", help="replace an existing tuned file")
    args = parser.parse_args(argv)
    relative, text = tuned_config(args.sweep_dir)
    path = args.out / relative
    if path.exists() and not args.force:
        raise SystemExit(f"error: {path} exists (it may hold the paper's values); pass --force to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
