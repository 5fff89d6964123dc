"""Rebuild one of the paper's tables from the run records, beside the paper's values.

    python -m mixnam.report table1|table2|table3|table6|table7|table8|table9|scorecard|summary
        [--runs results/runs] [--records results/records] [--out results/tables]
        [--alpha 0.05] [--margin-std 2] [--margin-floor 0.005] [profile=paper|smoke] [override ...]

writes `<out>/<table>.md`, `.tex` and `.csv`; `<out>` defaults to `results/tables/` for the paper's
budget and `results/tables/<profile>/` for any other, so a smoke check never overwrites a result
(`summary`: `<out>/runs_summary.csv`, one line per record, of one profile when `profile=` is given;
`scorecard`: `<out>/scorecard.md|.csv`, every table's verdicts and the paper's claims checked).
Verdicts: Δ's (1 - 2 alpha) interval against the margin max(margin-std x the paper's std, its printed
resolution, margin-floor x its value); README, "Verdicts".
It expands the table's experiment sweep(s) as `python run.py -m experiment=<table> <override ...>`
would, so it knows every run the table needs: give it the sweep's overrides (`profile=smoke`,
`dataset=housing`; launcher settings are ignored). Records are read from the runs directory and from the
records kept beside it (`results/records/`, in the repository), so a fresh clone regenerates the committed tables.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mixnam.reporting.render import (
    latex,
    markdown,
    runs_summary,
    scorecard,
    scorecard_csv,
    to_csv,
)
from mixnam.reporting.tables import SPECS, build
from mixnam.reporting.verdicts import Rule
from mixnam.sweeps import CONF_DIR

ROOT = CONF_DIR.parent


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m mixnam.report", description=__doc__.split("\n")[0])
    parser.add_argument("table", choices=[*sorted(SPECS), "scorecard", "summary"])
    parser.add_argument("--runs", type=Path, help="the records (default: the sweep's paths.runs_dir=, else results/runs)")
    parser.add_argument("--records", type=Path,
                        help="the records kept in the repository (default: `records/` beside the runs directory, "
                             "i.e. results/records; 'none' to ignore them)")
    parser.add_argument("--out", type=Path, help="default: results/tables[/<profile> unless paper]")
    parser.add_argument("--alpha", type=float, default=Rule.alpha, help="test level; intervals are 1 - 2 alpha")
    parser.add_argument("--margin-std", type=float, default=Rule.std_multiple, help="margin: this x the paper's std")
    parser.add_argument("--margin-floor", type=float, default=Rule.relative_floor,
                        help="margin: at least this share of the paper's value")
    parser.add_argument("overrides", nargs="*", help="the sweep's overrides, e.g. profile=smoke dataset=housing")
    args = parser.parse_args(argv)
    try:
        rule = Rule(args.alpha, args.margin_std, args.margin_floor)
    except ValueError as error:
        parser.error(str(error))
    given = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("profile=")), None)
    profile = given or "paper"
    overrides = tuple(o for o in args.overrides if not o.startswith(("profile=", "hydra")))
    runs = args.runs or Path(next((o.split("=", 1)[1] for o in overrides if o.startswith("paths.runs_dir=")),
                                  ROOT / "results" / "runs"))

    records = None if str(args.records) == "none" else args.records or runs.parent / "records"
    if args.out is None:
        args.out = ROOT / "results" / "tables" / ("" if profile == "paper" else profile)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table == "summary":
        (args.out / "runs_summary.csv").write_text(runs_summary(runs, *filter(None, [records]), profile=given))
        return args.out / "runs_summary.csv"
    command = " ".join(["python -m mixnam.report", *argv])
    if args.table == "scorecard":
        tables = [build(name, runs, profile, overrides, records, rule) for name in sorted(SPECS)]
        (args.out / "scorecard.md").write_text(scorecard(tables, command))
        (args.out / "scorecard.csv").write_text(scorecard_csv(tables))
        return args.out / "scorecard.md"
    table = build(args.table, runs, profile, overrides, records, rule)
    for suffix, text in ((".md", markdown(table, command)), (".tex", latex(table, command)), (".csv", to_csv(table))):
        (args.out / f"{args.table}{suffix}").write_text(text)
    filled = sum(cell.n > 0 for cell in table.cells.values())
    print(f"{args.out / args.table}.md|.tex|.csv: {filled}/{len(table.cells)} cells from {len(table.records)} "
          f"records (profile {profile})")
    return args.out / f"{args.table}.md"


if __name__ == "__main__":
    main()
