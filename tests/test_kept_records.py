"""Records kept in the repository are evidence: validated on the way in, never replaced by a worse or
partial run, read by the reports and by the skip logic, so a fresh clone regenerates the tables."""
from __future__ import annotations

import json

from mixnam.experiment import run
from mixnam.reporting.tables import build
from mixnam.runs.keep import keep
from mixnam.runs.records import find_completed, read_record
from tests.test_baselines import config as run_config

LINEAR = ("model=linear", "dataset=housing", "experiment_name=table1")  # Table 1's record of seed 0


def finished_linear_run(tmp_path, mirror) -> dict:
    """A real (cheap) paper-profile run: the linear baseline has no epoch budget to fall short of."""
    return run(run_config(*LINEAR, runs_dir=tmp_path / "runs", mirror=mirror))


def test_a_finished_paper_run_is_kept_once_and_a_rerun_never_replaces_it(tmp_path, mirror):
    record = finished_linear_run(tmp_path, mirror)
    outcome = keep(tmp_path / "runs", tmp_path / "records")
    [kept] = outcome["kept"]
    assert read_record(kept)["metrics"] == record["metrics"] and "best.pt" not in json.dumps(outcome)

    rerun = read_record(next((tmp_path / "runs").rglob("*.json")))
    rerun["metrics"]["test"]["rmse"] = 0.0  # a "better" rerun of the same configuration
    (next((tmp_path / "runs").rglob("*.json"))).write_text(json.dumps(rerun))
    again = keep(tmp_path / "runs", tmp_path / "records")
    assert again["already kept"] == [kept] and read_record(kept)["metrics"] == record["metrics"]


def test_failed_partial_and_reduced_records_are_refused_with_the_reason(tmp_path, mirror):
    record = finished_linear_run(tmp_path, mirror)
    path = next((tmp_path / "runs").rglob("*.json"))
    variants = {
        "failed": {**record, "status": "failed", "error": "RuntimeError: boom"},
        "short": {**record, "config": {**record["config"], "model": {**record["config"]["model"], "max_epochs": 1000}},
                  "max_epochs": 50},
        "subset": {**record, "config": {**record["config"], "data": {**record["config"]["data"], "max_rows": 3000}}},
        "torn": {key: value for key, value in record.items() if key != "metrics"},
    }
    for name, variant in variants.items():  # as four different runs
        path.with_name(f"{name}-{path.name}").write_text(json.dumps({**variant, "run_id": name}))
    path.unlink()
    outcome = keep(tmp_path / "runs", tmp_path / "records")
    assert outcome["kept"] == [] and len(outcome["refused"]) == 4
    reasons = "\n".join(outcome["refused"])
    for expected in ("status failed", "50 epochs, below the paper budget of 1000", "3000-row subset", "missing metrics"):
        assert expected in reasons
    assert not (tmp_path / "records").exists()


def test_a_run_whose_record_is_kept_is_skipped_and_reported_without_its_runs_directory(tmp_path, mirror):
    record = finished_linear_run(tmp_path, mirror)
    keep(tmp_path / "runs", tmp_path / "records")
    fresh = tmp_path / "clone" / "runs"  # a fresh clone: no raw runs, the kept records beside them
    (tmp_path / "clone").mkdir()
    (tmp_path / "records").rename(tmp_path / "clone" / "records")
    cfg = run_config(*LINEAR, runs_dir=fresh, mirror=mirror)
    assert find_completed(cfg) is not None
    assert run(cfg)["finished_at"] == record["finished_at"]  # skipped, not retrained
    assert not fresh.exists()

    table = build("table1", fresh, "paper", ("dataset=housing", "model=linear"), tmp_path / "clone" / "records")
    [cell] = [cell for cell in table.cells.values() if cell.n]
    assert cell.n == 1 and cell.mean == record["metrics"]["test"]["rmse"]
