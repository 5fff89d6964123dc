"""Recompute a finished run's interpretability metrics from its kept weights, without retraining.

    python -m mixnam.recompute RECORD.json [RECORD.json ...] [--weights BEST.pt] [--threads 1]

For each completed record: rebuild its data and model from the record's own config, load its best
weights (`--weights`, else `<record without .json>/best.pt`, else the record's `checkpoint`), check that
they give the record's test metric (so the metrics describe the model the record reports), then replace
`record["interpretability"]` with what today's code computes (e.g. every tightness reading of issue 26)
and note it in `record["interpretability_recomputed"]`. The record is rewritten atomically; a record
that fails any step is left as it was, and the command exits non-zero after trying the others.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mixnam.errors import MixnamError
from mixnam.runs.records import git_commit, read_record, write_json_atomic
from mixnam.sweeps import CONF_DIR

log = logging.getLogger(__name__)
METRIC_TOLERANCE = 1e-4  # relative: float32 inference on another machine or thread count, not other weights


def weights_of(path: Path, record: dict, weights: Path | None = None) -> Path:
    """The best weights of the run behind a record: given, beside the record, or where the record says."""
    candidates = [weights] if weights else [path.with_suffix("") / "best.pt", Path(record.get("checkpoint") or "")]
    found = next((c for c in candidates if c and c.is_file()), None)
    if found is None:
        raise MixnamError(f"{path}: no weights at {', '.join(map(str, filter(None, candidates)))}; pass --weights "
                          "the run's best.pt")
    return found


def config_of(record: dict) -> DictConfig:
    """The run's config: the repository's defaults for its model and dataset, then the record's own config."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"paths.root={CONF_DIR.parent}", f"model={record['model']}",
                                           f"dataset={record['dataset']}"])
    OmegaConf.set_struct(cfg, False)
    return OmegaConf.merge(cfg, record["config"])


def recompute(path: Path, weights: Path | None = None, threads: int = 1) -> dict:
    """Recompute one record's `interpretability` from its weights and rewrite the record; return it."""
    from mixnam.experiment import data_and_estimator, interpretability_of
    from mixnam.training.resources import native_threads

    record = read_record(path)
    if not record or record.get("status") != "completed":
        raise MixnamError(f"{path}: not a completed run record")
    weights = weights_of(path, record, weights)
    cfg = config_of(record)
    with native_threads(threads):
        data, estimator = data_and_estimator(cfg)
        estimator.load_weights(weights)
        metric = record["metric"]
        score = data.problem.score(data.test.y, estimator.predict(data.test.X))[metric]
        kept = record["metrics"]["test"][metric]
        if not math.isclose(score, kept, rel_tol=METRIC_TOLERANCE, abs_tol=METRIC_TOLERANCE):
            raise MixnamError(f"{path}: the weights {weights} give test {metric} {score:.6f}, the record {kept:.6f}: "
                              "not this run's weights")
        record["interpretability"] = interpretability_of(cfg, estimator, data)
    record["interpretability_recomputed"] = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "weights": str(weights),
        "git_commit": git_commit(CONF_DIR.parent), "test_metric": score}
    write_json_atomic(path, record)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument("--weights", type=Path, help="the run's best.pt (one record only)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args(argv)
    if args.weights and len(args.records) > 1:
        parser.error("--weights names one run's weights: give one record with it")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    failed = 0
    for path in args.records:
        try:
            block = recompute(path, args.weights, args.threads)["interpretability"]
        except (MixnamError, OSError, KeyError) as error:
            failed += 1
            log.error("%s", error)
            continue
        readings = {k: round(v, 4) for k, v in block.items() if k.startswith("tightness") and isinstance(v, float)}
        log.info("%s: %s", path, readings or "recomputed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
