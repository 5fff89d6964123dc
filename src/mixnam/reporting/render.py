"""A built table as Markdown, LaTeX and CSV, each with the same provenance: what made these numbers."""
from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timezone

from mixnam.reporting.claims import ClaimResult, checks_of
from mixnam.reporting.precision import precision_line
from mixnam.reporting.tables import DATASETS, MODEL_LABELS, Cell, Table, protocol_runs
from mixnam.reporting.verdicts import (
    DIFFERS,
    INCONCLUSIVE,
    REDUCED,
    REPRODUCED,
    TOO_FEW,
    VERDICTS,
)
from mixnam.runs.records import fit_time

PROFILE_NOTES = {
    "smoke": "**profile: smoke** — a quick end-to-end check (a few epochs on a few thousand rows, at most 2 "
             "folds/seeds): not a result, not comparable to the paper.",
    "reduced": "**profile: reduced** — the paper's protocol on every row at a reduced budget (fewer epochs and "
               "seeds, stated under *Provenance*): differences from the paper partly reflect the budget.",
    "paper": "profile: paper — the paper's protocol and budget (see the provenance below for what actually ran).",
}
SYMBOLS = {REPRODUCED: "✓", DIFFERS: "✗", INCONCLUSIVE: "?", REDUCED: "⊘", TOO_FEW: "·"}
LEGEND = ("Each cell: ours as mean ± std over folds/seeds (sample std) and the number of runs (of the expected, "
          "when fewer); then the paper's value, Δ = ours − paper with its {level:g}% confidence interval (Welch, from "
          "our runs and the paper's mean ± std over its protocol's runs, allowing for its rounding), the "
          "equivalence margin m and the verdict: ✓ reproduced (the interval lies inside ±m), ✗ differs (the "
          "interval lies outside ±m, or Δ is significant at α = {alpha:g} and |Δ| > m), ? inconclusive (neither; "
          "with how many more runs of ours would likely decide it), ⊘ reduced budget (some run is below the "
          "paper's budget: no verdict), · n < 2 (no std of ours). m = max({multiple:g} × the paper's std, its "
          "printed resolution, {floor:g}% of its value). Bold: our best per column. [k]: runs missing, see "
          "*Missing cells and why*.")


def legend(table: Table) -> str:
    rule = table.rule
    return LEGEND.format(level=100 * (1 - 2 * rule.alpha), alpha=rule.alpha, multiple=rule.std_multiple,
                         floor=100 * rule.relative_floor)


def _decimals(cell: Cell) -> int:
    resolution = cell.paper.resolution if cell.paper else 1e-3
    return max(0, round(-math.log10(resolution)))


def number(value: float | None, decimals: int) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if decimals == 0 else f"{value:.{decimals}f}"


def ours(cell: Cell) -> str:
    d = _decimals(cell)
    return number(cell.mean, d) + (f" ± {number(cell.std, d)}" if cell.std is not None else "")


def runs(cell: Cell) -> str:
    return f"({cell.n})" if cell.n == cell.expected else f"({cell.n}/{cell.expected})"


def verdict_text(cell: Cell) -> str:
    """`Δ +0.148 [+0.120, +0.176] (m 0.004) ✗ differs: CI outside the margin`, shorter without an interval."""
    verdict, d = cell.verdict, _decimals(cell)
    text = f"Δ {verdict.diff:+.{d}f}"
    if verdict.ci is not None:
        text += f" [{verdict.ci[0]:+.{d}f}, {verdict.ci[1]:+.{d}f}] (m {verdict.margin:.{d}f})"
    return f"{text} {SYMBOLS[verdict.label]} {verdict.label}" + (f": {verdict.reason}" if verdict.reason else "")


def paper_text(cell: Cell) -> str:
    if cell.paper is None:
        return "paper —"
    return f"paper {cell.paper.text}" + (f" · {verdict_text(cell)}" if cell.verdict is not None else "")


# ------------------------------------------------------------------------------------------- provenance
def missing(table: Table) -> dict[str, list[tuple[str, str]]]:
    """Reason -> the (row, column) cells it leaves empty or short, in table order."""
    reasons: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in table.spec.rows:
        for column in table.spec.columns:
            cell = table.cell(row, column)
            if cell is not None and cell.n < cell.expected:
                reasons[cell.why_empty if not cell.n else f"partial: {cell.why_empty}"].append((row, column))
    return dict(reasons)


def _footnotes(table: Table) -> dict[tuple[str, str], int]:
    return {place: k for k, places in enumerate(missing(table).values(), 1) for place in places}


def _spread(values: list[int]) -> str:
    values = sorted(set(values))
    if values == list(range(values[0], values[-1] + 1)) and len(values) > 2:
        return f"{values[0]}–{values[-1]}"
    return ", ".join(map(str, values))


def _gpu(env: dict) -> str:
    """`, NVIDIA H200 (driver 580.159.04, CUDA 13.0)` for a GPU run's environment, else nothing."""
    if not env.get("gpu"):
        return ""
    driver = f" (driver {env['gpu_driver']}, CUDA {env.get('cuda')})" if env.get("gpu_driver") else ""
    return f", {env['gpu']}{driver}"


def provenance(table: Table, command: str) -> list[str]:
    records = table.records
    done = [r for r in records if r.get("status") == "completed"]
    env = [r.get("env", {}) for r in records]
    commits = Counter(e.get("git_commit", "unknown") for e in env)
    hardware = Counter(f"{e.get('hostname', '?')}: {e.get('cpu_model') or e.get('cpu', '?')} x{e.get('cpu_count', '?')} "
                       f"cores, device {e.get('device', '?')}{_gpu(e)}, torch {e.get('torch', '?')}" for e in env)
    lines = [f"- Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `{command}` from {len(records)} "
             f"records ({len(done)} completed, {len(records) - len(done)} failed) of {table.expected_runs} runs "
             f"the sweep{'s' if len(table.spec.experiments) > 1 else ''} "
             f"({', '.join('experiment=' + e for e in table.spec.experiments)}) expand to.",
             "- Code: " + ("; ".join(f"commit `{c}` ({n} runs)" for c, n in commits.most_common()) or "no records"),
             "- Hardware: " + ("; ".join(f"{h} ({n} runs)" for h, n in hardware.most_common()) or "no records")]
    by_model: dict[str, list[dict]] = defaultdict(list)
    by_dataset: dict[str, list[dict]] = defaultdict(list)
    for r in done:
        by_model[r["model"]].append(r)
        by_dataset[r["dataset"]].append(r)
    epochs = []
    for model, rs in by_model.items():
        ran = [r["epochs_run"] for r in rs if r.get("epochs_run") is not None]
        if not ran:
            continue
        best = [r["best_epoch"] for r in rs if r.get("best_epoch") is not None]
        unit = rs[0].get("epoch_unit", "epoch")  # library models count boosting rounds or steps, not epochs
        budget = f"max_epochs {_spread([r['max_epochs'] for r in rs if r.get('max_epochs') is not None])}, " \
            if unit == "epoch" and any(r.get("max_epochs") is not None for r in rs) else ""
        epochs.append(f"{MODEL_LABELS.get(model, model)} {budget}ran {statistics.fmean(ran):.0f} {unit}s"
                      + (f" (best {statistics.fmean(best):.0f})" if best else ""))
    if epochs:
        lines.append("- Epochs (mean over runs): " + "; ".join(epochs) + ".")
    if precision := precision_line(table):
        lines.append(precision)
    lines.append(f"- Fit time: {fit_time(done)}.")
    for dataset, rs in by_dataset.items():
        sizes = Counter(f"{r['data']['n_train']}/{r['data']['n_val']}/{r['data']['n_test']}" for r in rs if "data" in r)
        max_rows = {(r.get("config", {}).get("data") or {}).get("max_rows") for r in rs} - {None}
        lines.append(f"- {DATASETS.get(dataset, dataset)}: {len(rs)} runs (folds {_spread([r['split'] for r in rs])} "
                     f"x seeds {_spread([r['seed'] for r in rs])}; the paper's protocol has {protocol_runs(dataset)} per "
                     f"cell); train/val/test rows {', '.join(sizes)}"
                     + (f" (reduced: data.max_rows={', '.join(map(str, max_rows))})" if max_rows else "") + ".")
    return lines


# ------------------------------------------------------------------------------------------------ output
def markdown(table: Table, command: str) -> str:
    spec, notes = table.spec, _footnotes(table)
    header = ["", *spec.fixed, *spec.columns]
    out = [f"# {spec.title}", "", "> " + PROFILE_NOTES.get(table.profile, f"profile: {table.profile}"), ""]
    if any(table.cell(row, column) is None for row in spec.rows for column in spec.columns):
        out += ["> Blank cells were not part of the sweep this table was made from (see its command below).", ""]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in spec.rows:
        cells = [spec.fixed[f].get(row, "") for f in spec.fixed]
        for column in spec.columns:
            cell = table.cell(row, column)
            if cell is None:
                cells.append("")
            elif cell.n == 0:
                cells.append(f"— [{notes[(row, column)]}]<br>{paper_text(cell)}")
            else:
                text = f"**{ours(cell)}**" if cell.best else ours(cell)
                note = f" [{notes[(row, column)]}]" if (row, column) in notes else ""
                cells.append(f"{text} {runs(cell)}{note}<br>{paper_text(cell)}")
        out.append(f"| {row} | " + " | ".join(cells) + " |")
    out += ["", legend(table) + (" " + spec.note if spec.note else ""), "", "## Scorecard", "", *scorecard_lines(table),
            "", "## Provenance", "", *provenance(table, command)]
    reasons = missing(table)
    if reasons:
        out += ["", "## Missing cells and why", ""]
        for k, (reason, places) in enumerate(reasons.items(), 1):
            out.append(f"{k}. {_places(table, places)}: {reason}")
    return "\n".join(out) + "\n"


def _places(table: Table, places: list[tuple[str, str]]) -> str:
    """`MIMIC-II AUC↑ (all rows)` or `NODE / Housing RMSE↓; ...`: a compact list of cells."""
    by_column: dict[str, list[str]] = defaultdict(list)
    for row, column in places:
        by_column[column].append(row)
    all_rows = [r for r in table.spec.rows if any(table.cell(r, c) for c in by_column)]
    parts = []
    for column, rows in by_column.items():
        rows_in_column = [r for r in all_rows if table.cell(r, column) is not None]
        parts.append(f"{column} ({'all rows' if rows == rows_in_column and len(rows) > 1 else ', '.join(rows)})")
    return "; ".join(parts)


LATEX = {"λ": r"$\lambda$", "↓": r"$\downarrow$", "↑": r"$\uparrow$", "±": r"$\pm$", "✓": r"\checkmark",
         "✗": r"$\times$", "·": r"$\cdot$", "—": "--", "Δ": r"$\Delta$", "−": "-", "%": r"\%", "_": r"\_", "&": r"\&",
         "#": r"\#", "×": r"$\times$", "⊘": r"$\oslash$", "≈": r"$\approx$", "|": r"$|$", "<": r"$<$", ">": r"$>$"}


def tex_escape(text: str) -> str:
    return "".join(LATEX.get(ch, ch) for ch in text)


def latex(table: Table, command: str) -> str:
    spec, notes = table.spec, _footnotes(table)
    header = ["", *spec.fixed, *spec.columns]
    out = [f"% {spec.title} -- profile {table.profile}; generated by `{command}` (see the .md for provenance)",
           r"\begin{table}[t]", r"\centering", r"\small",
           rf"\caption{{{tex_escape(spec.title)} (reproduction, profile {table.profile}). Ours: mean $\pm$ std "
           r"(runs); below: the paper's value, $\Delta$ = ours - paper with its confidence interval, the "
           r"equivalence margin $m$ and the verdict (see the .md's legend).}",
           r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\toprule",
           " & ".join(tex_escape(h) for h in header) + r" \\", r"\midrule"]
    for row in spec.rows:
        cells = [tex_escape(spec.fixed[f].get(row, "")) for f in spec.fixed]
        for column in spec.columns:
            cell = table.cell(row, column)
            if cell is None:
                cells.append("")
                continue
            first = f"-- [{notes[(row, column)]}]" if cell.n == 0 else tex_escape(ours(cell))
            first = (rf"\textbf{{{first}}}" if cell.best else first) + f" {runs(cell)}"
            cells.append(rf"\shortstack{{{first}\\{{\scriptsize {tex_escape(paper_text(cell))}}}}}")
        out.append(" & ".join([tex_escape(row), *cells]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    out += [f"% {line}" for line in provenance(table, command)]
    out += [f"% [{k}] {_places(table, p)}: {reason}" for k, (reason, p) in enumerate(missing(table).items(), 1)]
    return "\n".join(out) + "\n"


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["table", "profile", "row", "column", "quantity", "n", "expected", "mean", "std", "paper_mean",
                     "paper_std", "paper_n", "diff", "ci_low", "ci_high", "margin", "p_value", "verdict",
                     "verdict_reason", "runs_to_decide", "best", "why_missing"])
    for row in table.spec.rows:
        for column in table.spec.columns:
            cell = table.cell(row, column)
            if cell is None:
                continue
            p, v = cell.paper, cell.verdict
            ci = v.ci if v is not None and v.ci is not None else (None, None)
            writer.writerow([table.spec.name, table.profile, row, column, cell.quantity, cell.n, cell.expected,
                             cell.mean, cell.std, p and p.mean, p and p.std, p and p.n, cell.diff, *ci,
                             v and v.margin, v and v.p_value, v and v.label, v and v.reason, v and v.runs_to_decide,
                             cell.best, cell.why_empty if cell.n < cell.expected else ""])
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ scorecard
NO_RUNS = "no runs"


def verdict_counts(table: Table) -> Counter:
    """Cells with a paper value, by verdict (`no runs` for those without any)."""
    return Counter(cell.verdict.label if cell.verdict else NO_RUNS for cell in table.cells.values()
                   if cell.paper is not None)


def counts_text(counts: Counter) -> str:
    return ", ".join(f"{counts[label]} {label}" for label in (*VERDICTS, NO_RUNS) if counts[label]) or "none"


def claim_lines(result: ClaimResult, decimals: int = 3) -> list[str]:
    lines = [f"- **{result.claim.text}** ({result.claim.table}): **{result.verdict}**"]
    for e in result.effects:
        if e.effect is None:
            continue
        ci = f" [{e.ci[0]:+.{decimals}f}, {e.ci[1]:+.{decimals}f}]" if e.ci else ""
        paired = f"paired over {e.paired} folds; " if e.paired else ""
        lines.append(f"  - {e.comparison.label} = {e.effect:+.{decimals}f}{ci} ({paired}{e.runs[0]} vs "
                     f"{e.runs[1] or 'a fixed'} runs): {e.verdict}"
                     + (f" — at a reduced budget ({e.reduced})" if e.reduced else ""))
    not_run = [e.comparison.label for e in result.effects if e.effect is None]
    if not_run:
        lines.append(f"  - not run: {'; '.join(not_run)}")
    return lines


def scorecard_lines(table: Table) -> list[str]:
    level = 100 * (1 - 2 * table.rule.alpha)
    lines = [f"- Cells with a paper value: {counts_text(verdict_counts(table))}."]
    for result in checks_of(table):
        lines += claim_lines(result)
    if len(lines) > 1:
        lines.append(f"- A claim's effect is larger − smaller with its {level:g}% Welch interval from our runs, or, "
                     "where both sides ran the same folds, the mean per-fold difference with its paired interval "
                     "(Nadeau and Bengio's correction for overlapping training folds): it holds when the interval lies "
                     "above 0, fails when below, else is inconclusive.")
    return lines


SCORECARD_TITLE = "Scorecard: how much of the paper our runs reproduce"


def _scorecard_rows(tables: list[Table]) -> list[tuple[str, str]]:
    """(table, its verdict counts) per table, then the whole paper's."""
    counts = [verdict_counts(table) for table in tables]
    return [*((t.spec.name, counts_text(c)) for t, c in zip(tables, counts)), ("paper", counts_text(sum(counts, Counter())))]


def scorecard(tables: list[Table], command: str) -> str:
    """The whole paper: every table's verdict counts and every claim's check."""
    out = [f"# {SCORECARD_TITLE}", "",
           (f"> Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `{command}`; profile "
            f"{tables[0].profile if tables else '?'}. Verdicts as in each table's legend."), "",
           "| table | cells with a paper value |", "|---|---|"]
    rows = _scorecard_rows(tables)
    out += [f"| {name} | {counts} |" for name, counts in rows[:-1]] + [f"| **paper** | {rows[-1][1]} |"]
    out += ["", "## The paper's claims", ""]
    for table in tables:
        for result in checks_of(table):
            out += claim_lines(result)
    return "\n".join(out) + "\n"


def scorecard_latex(tables: list[Table], command: str) -> str:
    """The scorecard's verdict counts and claims (with their coverage) for a paper; the .md has the effects."""
    out = [f"% {SCORECARD_TITLE} -- profile {tables[0].profile if tables else '?'}; generated by `{command}` "
           "(see the .md for each claim's comparisons)",
           r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{SCORECARD_TITLE}.}}",
           r"\begin{tabular}{lll}", r"\toprule", r"table & & cells with a paper value \\", r"\midrule"]
    out += [rf"{tex_escape(name)} & & {tex_escape(counts)} \\" for name, counts in _scorecard_rows(tables)]
    out += [r"\midrule", r"table & claim & verdict \\", r"\midrule"]
    out += [rf"{table.spec.name} & {tex_escape(result.claim.text)} & {tex_escape(result.verdict)} \\"
            for table in tables for result in checks_of(table)]
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def scorecard_csv(tables: list[Table]) -> str:
    """One row per table's verdict count, claim and comparison; a claim's `run` of `of` comparisons say how much
    of it ran (its verdict says so in words too)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["table", "kind", "name", "verdict", "count_or_effect", "ci_low", "ci_high", "reduced", "run", "of",
                     "paired_folds"])
    for table in tables:
        for label, count in verdict_counts(table).items():
            writer.writerow([table.spec.name, "cells", "", label, count, "", "", "", "", "", ""])
        for result in checks_of(table):
            writer.writerow([table.spec.name, "claim", result.claim.text, result.verdict, "", "", "", "", result.ran,
                             len(result.effects), ""])
            for e in result.effects:
                ci = e.ci or ("", "")
                writer.writerow([table.spec.name, "comparison", e.comparison.label, e.verdict,
                                 "" if e.effect is None else e.effect, *ci, e.reduced, "", "", e.paired or ""])
    return buffer.getvalue()


SUMMARY_KEYS = ("model.variation_penalty", "model.n_experts", "model.top_k", "data.max_rows")


def runs_summary(*dirs, profile: str | None = None) -> str:
    """One CSV line per record (no checkpoints): what ran, under which budget, with which result or error."""
    from mixnam.runs.lookup import MISSING, dig
    from mixnam.runs.records import iter_records

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["experiment", "profile", "dataset", "model", "split", "seed", "status", "metric", "val", "test",
                     *SUMMARY_KEYS, "max_epochs", "epochs_run", "best_epoch", "fit_seconds", "git_commit", "error"])
    for _, r in iter_records(*dirs):
        if profile is not None and r.get("profile") != profile:
            continue
        metric = r.get("metric", "")
        values = [dig(r, f"metrics.val.{metric}"), dig(r, f"metrics.test.{metric}"),
                  *(dig(r.get("config", {}), key) for key in SUMMARY_KEYS)]
        writer.writerow([r.get("experiment"), r.get("profile"), r.get("dataset"), r.get("model"), r.get("split"),
                         r.get("seed"), r.get("status"), metric, *("" if v is MISSING else v for v in values),
                         r.get("max_epochs"), r.get("epochs_run"), r.get("best_epoch"), r.get("fit_seconds"),
                         r.get("env", {}).get("git_commit"), (r.get("error") or "")[:200]])
    return buffer.getvalue()
