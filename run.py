"""Entry point: `python run.py model=mixnam dataset=housing [split=0 seed=0 ...]`; `-m` sweeps.

Thin on purpose: validate the command line, hand the composed config to `mixnam.experiment.run`.
"""
import sys

import hydra
from omegaconf import DictConfig

from mixnam.cli import check_overrides, report_failure
from mixnam.errors import Interrupted
from mixnam.launchers import check_launcher


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from mixnam.experiment import run

    try:
        record = run(cfg)
    except (Exception, Interrupted) as error:  # noqa: BLE001 - its record is written; decide how loudly to stop
        return report_failure(error)
    return record["metrics"]["val"][record["metric"]] if "metrics" in record else None


if __name__ == "__main__":
    check_overrides(sys.argv[1:])
    check_launcher(sys.argv[1:])
    main()
