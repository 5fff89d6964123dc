"""Keep finished runs' records in the repository, so a fresh clone regenerates the tables without training.

    python -m mixnam.runs.keep [--runs results/runs] [--records results/records] [--profile paper]

copies every record of the profile under `--runs` that is valid (complete schema, `completed`, the
profile's full budget) to `<records>/<profile>/<experiment>/<dataset>/<model>/`, the run's path below its
runs directory. Only the JSON travels: weights, checkpoints and logs stay in the ignored runs directory.
A record already kept is never replaced: not by a failed or partial one, and not by a rerun of the same
configuration either (the first finished run is the evidence the tables were made from).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mixnam.runs.records import iter_records, read_record, write_json_atomic
from mixnam.sweeps import CONF_DIR

ROOT = CONF_DIR.parent
REQUIRED = ("model", "dataset", "split", "seed", "experiment", "profile", "run_id", "status", "metric", "metrics",
            "config", "env", "max_epochs", "epochs_run", "fit_seconds", "finished_at")


def problems(record: dict, profile: str) -> list[str]:
    """Why a record may not be kept as evidence for `profile` (empty when it may)."""
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        return [f"missing {', '.join(missing)}"]
    found = []
    if record["status"] != "completed":
        found.append(f"status {record['status']}")
    if record["profile"] != profile:
        found.append(f"profile {record['profile']}")
    metric = record["metric"]
    if not all(isinstance(record["metrics"].get(part, {}).get(metric), (int, float)) for part in ("val", "test")):
        found.append(f"no val/test {metric}")
    config = record["config"]
    if profile == "paper":
        budget = (config.get("model") or {}).get("max_epochs")
        if budget is not None and record["max_epochs"] != budget:
            found.append(f"{record['max_epochs']} epochs, below the paper budget of {budget}")
        if (config.get("data") or {}).get("max_rows") is not None:
            found.append(f"a {config['data']['max_rows']}-row subset")
    return found


def keep(runs_dir: Path, records_dir: Path, profile: str = "paper") -> dict[str, list[str]]:
    """Copy the valid records of `profile`; return what was kept, already kept, and refused (with why)."""
    outcome: dict[str, list[str]] = {"kept": [], "already kept": [], "refused": []}
    for path, record in iter_records(runs_dir):
        if record.get("profile") != profile:
            continue
        why = problems(record, profile)
        if why:
            outcome["refused"].append(f"{path}: {'; '.join(why)}")
            continue
        target = records_dir / profile / path.relative_to(runs_dir)
        existing = read_record(target)
        if existing is not None and not problems(existing, profile):
            outcome["already kept"].append(str(target))
            continue
        write_json_atomic(target, {k: v for k, v in record.items() if k != "traceback"})
        outcome["kept"].append(str(target))
    return outcome


def main(argv: list[str] | None = None) -> dict[str, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m mixnam.runs.keep", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "runs", help="default: results/runs")
    parser.add_argument("--records", type=Path, default=ROOT / "results" / "records", help="default: results/records")
    parser.add_argument("--profile", default="paper", help="the budget whose records are kept (default: paper)")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        sys.exit(f"error: no runs directory {args.runs}; give the one your runs wrote to with --runs DIR")
    outcome = keep(args.runs, args.records, args.profile)
    for line in outcome["refused"]:
        print(f"refused {line}")
    print(f"{len(outcome['kept'])} kept, {len(outcome['already kept'])} already kept, {len(outcome['refused'])} "
          f"refused ({args.profile} profile) -> {args.records / args.profile}")
    return outcome


if __name__ == "__main__":
    main()
