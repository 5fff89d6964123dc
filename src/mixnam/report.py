"""Rebuild one of the paper's tables from the run records, beside the paper's values.

    python -m mixnam.report table1|table2|table3|table6|table7|table8|table9|scorecard|summary
        [--runs results/runs] [--records results/records] [--out results/tables] [--force]
        [--alpha 0.05] [--margin-std 2] [--margin-floor 0.005] [profile=paper|smoke] [override ...]
    python -m mixnam.report interactions|decoy [--runs ...] [--out ...] [dataset=housing]

writes `<out>/<table>.md`, `.tex` and `.csv`; `<out>` defaults to `results/tables/` for the paper's
budget and `results/tables/<profile>/` for any other, so a smoke check never overwrites a result
(`summary`: `<out>/runs_summary.csv`, one line per record, of one profile when `profile=` is given;
`scorecard`: `<out>/scorecard.md|.tex|.csv`, every table's verdicts and the paper's claims checked;
`interactions` and `decoy`, issue 15: `<out>/<name>.md|.csv` from the records of those experiments,
see `mixnam.reporting.explanations`).
Verdicts: Δ's (1 - 2 alpha) interval against the margin max(margin-std x the paper's std, its printed
resolution, margin-floor x its value); docs/verdicts.md.
It expands the table's experiment sweep(s) as `python run.py -m experiment=<table> <override ...>`
would, so it knows every run the table needs: give it the sweep's overrides (`profile=smoke`,
`dataset=housing`; launcher settings are ignored). Records are read from the runs directory and from the
records kept beside it (`results/records/`, in the repository), so a fresh clone regenerates the committed tables.
Options and overrides go in any order.

A report never destroys evidence (`publish`, the one gate every report passes): a runs directory given
but absent, or no records found for the report, is an error, not an empty table; and a report (table,
scorecard, summary, interactions, decoy) is never replaced by one with fewer filled cells (a fresh clone
without records would blank the committed tables) unless `--force`.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

from mixnam.cli import check_overrides, fail
from mixnam.reporting.claims import NOT_RUN
from mixnam.reporting.explanations import REPORTS
from mixnam.reporting.render import (
    NO_RUNS,
    latex,
    markdown,
    runs_summary,
    scorecard,
    scorecard_csv,
    scorecard_latex,
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
    check_overrides(args.overrides)  # an unknown dataset or key stops here, not as an empty table
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
    sources = f"{runs}" + (f" or {records}" if records is not None else "")
    if args.table == "summary":
        summary = runs_summary(runs, *filter(None, [records]), profile=given)
        return publish(args.out, "runs_summary", {".csv": summary}, summary.count("\n") - 1, sources, args.force)
    if args.table in REPORTS:
        dataset = [o.split("=", 1)[1] for o in overrides if o.startswith("dataset=")]
        text, rows = REPORTS[args.table](runs, profile, *dataset)  # from completed records only: filled = found
        return publish(args.out, args.table, {".md": text, ".csv": rows}, filled_cells(rows), sources, args.force)
    # what the table is (its overrides and verdict rule), not where it was read or written: the provenance line
    # is the command that remakes it from any records directory (make paper-tables runs it)
    rule_options = [f"--{name.replace('_', '-')} {getattr(args, name)}" for name, default in
                    (("alpha", Rule.alpha), ("margin_std", Rule.std_multiple), ("margin_floor", Rule.relative_floor))
                    if getattr(args, name) != default]
    what = [o for o in args.overrides if not o.startswith("paths.")]
    command = " ".join(["python -m mixnam.report", args.table, *what, *rule_options])
    if args.table == "scorecard":
        tables = [build(name, runs, profile, overrides, records, rule) for name in sorted(SPECS)]
        texts = {".md": scorecard(tables, command), ".tex": scorecard_latex(tables, command),
                 ".csv": scorecard_csv(tables)}
        found = {r["_path"] for t in tables for r in t.records}  # a record may fill several tables (2 and 3)
        return publish(args.out, "scorecard", texts, len(found), sources, args.force)
    table = build(args.table, runs, profile, overrides, records, rule)
    texts = {".md": markdown(table, command), ".tex": latex(table, command), ".csv": to_csv(table)}
    return publish(args.out, args.table, texts, len(table.records), sources, args.force)


def check_sources(runs: Path, records: Path | None, given_runs: bool) -> None:
    """A report from directories that are not there would be a table of empty cells: refuse. The
    default runs directory may be absent when kept records exist (a fresh clone); one given may not."""
    if runs.is_dir() or (not given_runs and records is not None and records.is_dir()):
        return
    kept = f" and no kept records at {records}" if records is not None and not given_runs else ""
    fail(f"the runs directory {runs} does not exist{' (it is a file)' if runs.exists() else ''}{kept}, so there are "
         "no records to report. Run the sweep first (make reproduce-<table>, or python run.py -m "
         "experiment=<table>), or point --runs (or paths.runs_dir=) at the directory that holds the records.")


def filled_cells(report_csv: str) -> int:
    """What a report's CSV holds, counted the same way for the report about to be written and the one on disk:
    a table's cells with n > 0; the scorecard's cells run and comparisons measured; an explanation report's rows
    with runs; else (the records summary) its rows."""
    try:
        rows = list(csv.DictReader(io.StringIO(report_csv)))
    except csv.Error:
        return 0

    def count(value: str | None) -> int:
        return int(value) if (value or "").isdigit() else 0

    def filled(row: dict) -> int:
        if "kind" in row:  # the scorecard
            return (count(row["count_or_effect"]) if row["kind"] == "cells" and row["verdict"] != NO_RUNS else
                    int(row["kind"] == "comparison" and row["verdict"] not in (NOT_RUN, "")))
        for key in ("n", "runs", "seeds"):
            if key in row:
                return int(count(row[key]) > 0)
        return 1

    return sum(map(filled, rows))


def publish(out: Path, name: str, texts: dict[str, str], records: int, sources: str, force: bool) -> Path:
    """The one gate every report passes to be written (`<out>/<name>` + each suffix of `texts`, one of them .csv):
    a report that found no records is refused, and so is one that would replace a report on disk by one holding
    fewer filled cells (`filled_cells` of the two CSVs), unless `force`. Nothing is written when refused."""
    if not records:
        fail(f"no records for `{name}` were found under {sources} (of this profile and sweep), so there is nothing "
             "to report. Nothing was written. Run the sweep first (make reproduce-<table>, or python run.py -m "
             "experiment=<table>), or point --runs (and --records) at the directories that hold the records.")
    target = out / name
    filled = filled_cells(texts[".csv"])
    try:
        before = filled_cells(target.with_suffix(".csv").read_text())
    except (OSError, UnicodeDecodeError):  # none yet, or not a report's CSV: nothing to keep
        before = 0
    if filled < before and not force:
        fail(f"{target} holds {before} filled cells and this report would have only {filled}: the records behind it "
             f"are not under {sources}. Nothing was written. Point --runs at the records that made it, write "
             "elsewhere with --out DIR, or pass --force to replace it.")
    for suffix, text in texts.items():
        write_atomically(out / f"{name}{suffix}", text)
    print(f"{target}{'|'.join(texts)}: {filled} filled cells from {records} records")
    return target.with_suffix(".md" if ".md" in texts else ".csv")


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
