"""Rebuild one of the paper's tables from the run records, beside the paper's values.

    python -m mixnam.report table1|table2|table3|table6|table7|table8|table9|scorecard|summary
        [--runs results/runs] [--records results/records] [--out results/tables] [--force]
        [--alpha 0.05] [--margin-std 2] [--margin-floor 0.005] [profile=paper|smoke] [override ...]
    python -m mixnam.report interactions|decoy [--runs ...] [--out ...] [dataset=housing]

writes `<out>/<table>.md`, `.tex` and `.csv`; `<out>` defaults to `results/tables/` for the paper's
budget and `results/tables/<profile>/` for any other, so a smoke check never overwrites a result
(`summary`: `<out>/runs_summary.csv`, one line per record, of one profile when `profile=` is given;
`scorecard`: `<out>/scorecard.md|.csv`, every table's verdicts and the paper's claims checked;
`interactions` and `decoy`, issue 15: `<out>/<name>.md|.csv` from the records of those experiments,
see `mixnam.reporting.explanations`).
Verdicts: Δ's (1 - 2 alpha) interval against the margin max(margin-std x the paper's std, its printed
resolution, margin-floor x its value); README, "Verdicts".
It expands the table's experiment sweep(s) as `python run.py -m experiment=<table> <override ...>`
would, so it knows every run the table needs: give it the sweep's overrides (`profile=smoke`,
`dataset=housing`; launcher settings are ignored). Records are read from the runs directory and from the
records kept beside it (`results/records/`, in the repository), so a fresh clone regenerates the committed tables.
Options and overrides go in any order.

A report never destroys evidence: a runs directory given but absent, or no records at all (neither
runs nor kept records), is an error, not an empty table; and a table is never replaced by one with
fewer filled cells (a fresh clone without records would blank the committed tables) unless `--force`.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

from mixnam.cli import fail
from mixnam.reporting.explanations import REPORTS
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
    parser.add_argument("table", choices=[*sorted(SPECS), "scorecard", "summary", *REPORTS])
    parser.add_argument("--runs", type=Path, help="the records (default: the sweep's paths.runs_dir=, else results/runs)")
    parser.add_argument("--records", type=Path,
                        help="the records kept in the repository (default: `records/` beside the runs directory, "
                             "i.e. results/records; 'none' to ignore them)")
    parser.add_argument("--out", type=Path, help="default: results/tables[/<profile> unless paper]")
    parser.add_argument("--alpha", type=float, default=Rule.alpha, help="test level; intervals are 1 - 2 alpha")
    parser.add_argument("--margin-std", type=float, default=Rule.std_multiple, help="margin: this x the paper's std")
    parser.add_argument("--margin-floor", type=float, default=Rule.relative_floor,
                        help="margin: at least this share of the paper's value")
    parser.add_argument("--force", action="store_true", help="replace a table even by one with fewer filled cells")
    parser.add_argument("overrides", nargs="*", help="the sweep's overrides, e.g. profile=smoke dataset=housing")
    args = parser.parse_intermixed_args(argv)
    try:
        rule = Rule(args.alpha, args.margin_std, args.margin_floor)
    except ValueError as error:
        parser.error(str(error))
    given = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("profile=")), None)
    profile = given or "paper"
    overrides = tuple(o for o in args.overrides if not o.startswith(("profile=", "hydra")))
    given_paths = {key: Path(value) for key, value in (o.split("=", 1) for o in overrides)
                   if key in ("paths.results_dir", "paths.runs_dir")}  # where the sweep wrote, as in conf/config.yaml
    results = given_paths.get("paths.results_dir", ROOT / "results")
    runs = args.runs or given_paths.get("paths.runs_dir", results / "runs")
    records = None if str(args.records) == "none" else args.records or runs.parent / "records"
    check_sources(runs, records, given_runs=args.runs is not None or bool(given_paths))
    if args.out is None:
        args.out = results / "tables" / ("" if profile == "paper" else profile)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table == "summary":
        summary = runs_summary(runs, *filter(None, [records]), profile=given)
        check_not_fewer(args.out / "runs_summary.csv", summary.count("\n") - 1, args.force, "records listed")
        write_atomically(args.out / "runs_summary.csv", summary)
        return args.out / "runs_summary.csv"
    if args.table in REPORTS:
        dataset = [o.split("=", 1)[1] for o in overrides if o.startswith("dataset=")]
        text, rows = REPORTS[args.table](runs, profile, *dataset)
        write_atomically(args.out / f"{args.table}.md", text)
        write_atomically(args.out / f"{args.table}.csv", rows)
        print(f"{args.out / args.table}.md|.csv")
        return args.out / f"{args.table}.md"
    # what the table is (its overrides and verdict rule), not where it was read or written: the provenance line
    # is the command that remakes it from any records directory (make paper-tables runs it)
    rule_options = [f"--{name.replace('_', '-')} {getattr(args, name)}" for name, default in
                    (("alpha", Rule.alpha), ("margin_std", Rule.std_multiple), ("margin_floor", Rule.relative_floor))
                    if getattr(args, name) != default]
    what = [o for o in args.overrides if not o.startswith("paths.")]
    command = " ".join(["python -m mixnam.report", args.table, *what, *rule_options])
    if args.table == "scorecard":
        tables = [build(name, runs, profile, overrides, records, rule) for name in sorted(SPECS)]
        write_atomically(args.out / "scorecard.md", scorecard(tables, command))
        write_atomically(args.out / "scorecard.csv", scorecard_csv(tables))
        return args.out / "scorecard.md"
    table = build(args.table, runs, profile, overrides, records, rule)
    filled = sum(cell.n > 0 for cell in table.cells.values())
    check_not_fewer(args.out / f"{args.table}.csv", filled, args.force)
    for suffix, text in ((".md", markdown(table, command)), (".tex", latex(table, command)), (".csv", to_csv(table))):
        write_atomically(args.out / f"{args.table}{suffix}", text)
    print(f"{args.out / args.table}.md|.tex|.csv: {filled}/{len(table.cells)} cells from {len(table.records)} "
          f"records (profile {profile})")
    return args.out / f"{args.table}.md"


def check_sources(runs: Path, records: Path | None, given_runs: bool) -> None:
    """A report from directories that are not there would be a table of empty cells: refuse. The
    default runs directory may be absent when kept records exist (a fresh clone); one given may not."""
    if runs.is_dir() or (not given_runs and records is not None and records.is_dir()):
        return
    kept = f" and no kept records at {records}" if records is not None and not given_runs else ""
    fail(f"the runs directory {runs} does not exist{' (it is a file)' if runs.exists() else ''}{kept}, so there are "
         "no records to report. Run the sweep first (make reproduce-<table>, or python run.py -m "
         "experiment=<table>), or point --runs (or paths.runs_dir=) at the directory that holds the records.")


def filled_cells(table_csv: Path) -> int:
    """Filled cells of a table written before (rows with n > 0; a summary: its rows); 0 if none or unreadable."""
    try:
        with open(table_csv, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return 0
    return sum(1 for row in rows if "n" not in row or (row["n"] or "0").isdigit() and int(row["n"] or 0) > 0)


def check_not_fewer(table_csv: Path, filled: int, force: bool, what: str = "filled cells") -> None:
    """Never replace a table by one holding fewer filled cells (or summary rows) unless `--force`."""
    before = filled_cells(table_csv)
    if filled < before and not force:
        fail(f"{table_csv.with_suffix('')} holds {before} {what} and this report would have only {filled}: the "
             "records behind it are not under the runs directory given. Nothing was written. Point --runs at the "
             "records that made it, write elsewhere with --out DIR, or pass --force to replace it.")


def write_atomically(path: Path, text: str) -> None:
    """A killed report never leaves half a table: write beside it, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
