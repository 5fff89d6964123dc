"""The committed paper-budget tables are regenerated, byte for byte apart from the generation line, from
the records committed beside them, without training anything (a fresh clone has no results/runs). Each
table is remade by the command its own provenance line names (`python -m mixnam.report table1
dataset=housing,income`), so a table committed later is checked too."""
from __future__ import annotations

import re
import shlex

import pytest

from mixnam import report
from tests.conftest import ROOT

TABLES = ROOT / "results" / "tables"
COMMAND = re.compile(r"by `python -m mixnam\.report ([^`]+)`")
COMMITTED = sorted(path for path in TABLES.glob("*.md") if COMMAND.search(path.read_text()))


def without_generation_time(text: str) -> list[str]:
    return [line for line in text.splitlines() if "generated" not in line.lower()]


def test_the_paper_budget_tables_are_committed():
    assert {path.stem for path in COMMITTED} >= {"table1"}


@pytest.mark.parametrize("table", COMMITTED, ids=lambda path: path.stem)
def test_a_committed_table_is_regenerated_from_the_committed_records_alone(table, tmp_path):
    arguments = shlex.split(COMMAND.search(table.read_text()).group(1))
    (tmp_path / "runs").mkdir()  # as on a fresh clone: no raw runs of our own
    report.main([*arguments, "--runs", str(tmp_path / "runs"), "--records", str(ROOT / "results" / "records"),
                 "--out", str(tmp_path)])
    for committed in sorted(TABLES.glob(f"{table.stem}.*")):  # .md, .csv and, for tables, .tex
        assert without_generation_time((tmp_path / committed.name).read_text()) == \
            without_generation_time(committed.read_text()), f"{committed.name} differs from what its records give"
