"""Rebuild one of the paper's tables from the run records, beside the paper's values.

    python -m mixnam.report table1|table2|table3|table6|table7|table8|table9|summary
        [--runs results/runs] [--out results/tables] [profile=paper|smoke] [override ...]
    python -m mixnam.report interactions|decoy [--runs ...] [--out ...] [dataset=housing]

writes `<out>/<table>.md`, `.tex` and `.csv`; `<out>` defaults to `results/tables/` for the paper's
budget and `results/tables/<profile>/` for any other, so a smoke check never overwrites a result
(`summary`: `<out>/runs_summary.csv`, one line per record, of one profile when `profile=` is given;
`interactions` and `decoy`, issue 15: `<out>/<name>.md|.csv` from the records of those experiments,
see `mixnam.reporting.explanations`).
It expands the table's experiment sweep(s) as `python run.py -m experiment=<table> <override ...>`
would, so it knows every run the table needs: give it the sweep's overrides (`profile=smoke`,
`dataset=housing`; launcher settings are ignored).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mixnam.reporting.explanations import REPORTS
from mixnam.reporting.render import latex, markdown, runs_summary, to_csv
from mixnam.reporting.tables import SPECS, build
from mixnam.sweeps import CONF_DIR

ROOT = CONF_DIR.parent


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m mixnam.report", description=__doc__.split("\n")[0])
    parser.add_argument("table", choices=[*sorted(SPECS), "summary", *REPORTS])
    parser.add_argument("--runs", type=Path, help="the records (default: the sweep's paths.runs_dir=, else results/runs)")
    parser.add_argument("--out", type=Path, help="default: results/tables[/<profile> unless paper]")
    parser.add_argument("overrides", nargs="*", help="the sweep's overrides, e.g. profile=smoke dataset=housing")
    args = parser.parse_args(argv)
    given = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("profile=")), None)
    profile = given or "paper"
    overrides = tuple(o for o in args.overrides if not o.startswith(("profile=", "hydra")))
    runs = args.runs or Path(next((o.split("=", 1)[1] for o in overrides if o.startswith("paths.runs_dir=")),
                                  ROOT / "results" / "runs"))

    if args.out is None:
        args.out = ROOT / "results" / "tables" / ("" if profile == "paper" else profile)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table == "summary":
        (args.out / "runs_summary.csv").write_text(runs_summary(runs, given))
        return args.out / "runs_summary.csv"
    if args.table in REPORTS:
        dataset = [o.split("=", 1)[1] for o in overrides if o.startswith("dataset=")]
        text, rows = REPORTS[args.table](runs, profile, *dataset)
        (args.out / f"{args.table}.md").write_text(text)
        (args.out / f"{args.table}.csv").write_text(rows)
        print(f"{args.out / args.table}.md|.csv")
        return args.out / f"{args.table}.md"
    table = build(args.table, runs, profile, overrides)
    command = " ".join(["python -m mixnam.report", *argv])
    for suffix, text in ((".md", markdown(table, command)), (".tex", latex(table, command)), (".csv", to_csv(table))):
        (args.out / f"{args.table}{suffix}").write_text(text)
    filled = sum(cell.n > 0 for cell in table.cells.values())
    print(f"{args.out / args.table}.md|.tex|.csv: {filled}/{len(table.cells)} cells from {len(table.records)} "
          f"records (profile {profile})")
    return args.out / f"{args.table}.md"


if __name__ == "__main__":
    main()
