"""The committed paper-budget tables are regenerated, byte for byte apart from the generation line, from
the records committed beside them, without training anything (a fresh clone has no results/runs)."""
from __future__ import annotations

from mixnam import report
from tests.conftest import ROOT

TABLES = ROOT / "results" / "tables"


def without_generation_time(text: str) -> list[str]:
    return [line for line in text.splitlines() if "generated" not in line.lower()]


def test_table1_is_regenerated_from_the_committed_records_alone(tmp_path):
    (tmp_path / "runs").mkdir()  # as on a fresh clone: no raw runs of our own
    report.main(["table1", "dataset=housing", "--runs", str(tmp_path / "runs"), "--records",
                 str(ROOT / "results" / "records"), "--out", str(tmp_path)])
    for suffix in (".md", ".tex", ".csv"):
        committed = (TABLES / f"table1{suffix}").read_text()
        assert without_generation_time((tmp_path / f"table1{suffix}").read_text()) == \
            without_generation_time(committed), f"table1{suffix} differs from what its committed records give"
