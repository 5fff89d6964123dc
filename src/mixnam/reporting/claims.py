"""The paper's claims as checks on our runs, each with an effect and its confidence interval.

A claim is a conjunction of comparisons "`larger` exceeds `smaller`" between two cells of one table
(or a cell and a fixed value), optionally on a record value other than the cell's own. Each
comparison's effect is mean(larger) - mean(smaller) with a (1 - 2 alpha) Welch interval from our
runs; it `holds` when the interval lies above 0, `fails` when it lies below, and is `inconclusive`
otherwise. Where both sides ran the same folds (the 5-fold protocols: Income, MIMIC, Credit), the
comparison is paired over those folds instead: the effect is the mean per-fold difference, so how hard
a fold is (Income's fold 3 is 0.01 AUC below the others for every model) cancels instead of burying a
consistent gain in the spread, and its variance carries Nadeau and Bengio's (2003) correction for
folds whose training sets overlap, (1/J + n_test/n_train) s^2 instead of s^2/J. A claim holds when every comparison that has runs holds, fails when any fails, and is
`not run` when none has runs. A claim over several cells (datasets, λ values, expert settings) states
how much of it ran: "holds on 1 of 6 datasets (5 not run)", never a plain "holds" that the runs do not
cover. Comparisons on runs below the paper's budget say so: they check the direction at that budget,
not the paper's numbers.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from scipy import stats

from mixnam.reporting.paper import PaperValue, welch
from mixnam.reporting.tables import (
    DATASETS,
    LOWER_IS_BETTER,
    Cell,
    Table,
    dataset_column,
    lambda_label,
    metric_of,
)
from mixnam.runs.lookup import dig

HOLDS, FAILS, INCONCLUSIVE, NOT_RUN = "holds", "fails", "inconclusive", "not run"
ADDITIVE = 0.999  # Eq. 11 gives a strictly additive model 1 to float precision (tests/test_additivity.py)


@dataclass(frozen=True)
class Side:
    row: str
    column: str
    quantity: str | None = None  # a record value other than the cell's own, e.g. interpretability.additivity


@dataclass(frozen=True)
class Comparison:
    """`larger` exceeds `smaller` (a cell, or a fixed value)."""

    label: str
    larger: Side
    smaller: Side | float


@dataclass(frozen=True)
class Claim:
    text: str
    table: str
    comparisons: tuple[Comparison, ...]
    over: str = "comparisons"  # what the comparisons range over, named in the coverage: "datasets", "λ values"


@dataclass(frozen=True)
class Effect:
    comparison: Comparison
    verdict: str
    effect: float | None = None
    ci: tuple[float, float] | None = None
    runs: tuple[int, int] = (0, 0)
    reduced: str = ""
    paired: int = 0  # the folds the interval is paired over (0: Welch over the runs)


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    label: str  # holds / fails / inconclusive / not run, over the comparisons that ran
    effects: tuple[Effect, ...]

    @property
    def ran(self) -> int:
        return sum(e.verdict != NOT_RUN for e in self.effects)

    @property
    def verdict(self) -> str:
        """The label with its coverage whenever only part of the claim ran, so no report can print a bare
        `holds` for a claim checked on 1 of its 6 datasets: `holds on 1 of 6 datasets (5 not run)`."""
        total = len(self.effects)
        if self.label == NOT_RUN or self.ran == total:
            return self.label
        return f"{self.label} on {self.ran} of {total} {self.claim.over} ({total - self.ran} not run)"


def _beats(model: str, other: str, dataset: str) -> Comparison:
    """`model` is better than `other` on the dataset's metric: the worse one's value is the larger if lower is better."""
    column = dataset_column(dataset)
    ours, theirs = Side(model, column), Side(other, column)
    if LOWER_IS_BETTER[metric_of(dataset)]:
        return Comparison(f"{other} − {model}, {column}", theirs, ours)
    return Comparison(f"{model} − {other}, {column}", ours, theirs)


HOUSING = dataset_column("housing")
# Table 1's caption: "MixNAM significantly outperforms traditional additive models with FA".
FEATURE_ATTRIBUTION_GAMS = ("Linear", "Spline", "EBM", "NAM", "NBM", "NODE-GAM")
CLAIMS = (
    Claim("MixNAM beats NAM on Housing", "table1", (_beats("MixNAM", "NAM", "housing"),)),
    Claim("MixNAM beats NAM on every dataset it ran", "table1", tuple(_beats("MixNAM", "NAM", d) for d in DATASETS),
          "datasets"),
    Claim("MixNAM beats every additive model with feature attribution (FA)", "table1",
          tuple(_beats("MixNAM", gam, d) for d in DATASETS for gam in FEATURE_ATTRIBUTION_GAMS), "model × dataset pairs"),
    Claim("MixNAM-D is additive (additivity = 1)", "table6",
          tuple(Comparison(f"additivity − {ADDITIVE} ({DATASETS[d]})",
                           Side("MixNAM-D", dataset_column(d), "interpretability.additivity"), ADDITIVE)
                for d in DATASETS), "datasets"),
    Claim("tightness rises with λ", "table3",
          tuple(Comparison(f"tightness at {lambda_label(v)} − at λ = 0", Side(f"MixNAM ({lambda_label(v)})", "Tightness"),
                           Side("MixNAM (λ = 0)", "Tightness")) for v in (1, 10, 100)), "λ values"),
    Claim("RMSE rises with λ above 1", "table2",
          tuple(Comparison(f"RMSE at {lambda_label(v)} − at λ = 1", Side(lambda_label(v), HOUSING),
                           Side(lambda_label(1), HOUSING)) for v in (10, 100)), "λ values"),
    Claim("more experts help up to C = 8", "table8",
          tuple(Comparison(f"RMSE at C = {c} − at C = 8 (K = {k})", Side(f"K = {k}", f"MixNAM C = {c}"),
                           Side(f"K = {k}", "MixNAM C = 8")) for k, c in ((2, 2), (2, 4), (4, 4))), "expert settings"),
)


def _runs(table: Table, side: Side) -> tuple[list[tuple[dict, float]], Cell | None]:
    """The side's (record, value) pairs: the cell's own quantity, or `side.quantity` where finite."""
    cell = table.cell(side.row, side.column)
    if cell is None:
        return [], None
    if side.quantity is None:
        return list(zip(cell.records, cell.values)), cell
    found = [(r, dig(r, side.quantity)) for r in cell.records]
    return [(r, float(v)) for r, v in found if isinstance(v, (int, float)) and math.isfinite(v)], cell


def fold_differences(larger: list[tuple[dict, float]], smaller: list[tuple[dict, float]]) -> tuple[list[float], float]:
    """Per fold both sides ran (each the mean over its seeds there), larger − smaller, and the mean test/train
    row ratio of those runs; no folds unless they share at least two and every run states its row counts."""
    def by_fold(runs):
        folds = defaultdict(list)
        for record, value in runs:
            folds[record.get("split")].append(value)
        return {fold: statistics.fmean(values) for fold, values in folds.items()}

    a, b = by_fold(larger), by_fold(smaller)
    common = sorted(set(a) & set(b), key=str)
    sizes = [dig(r, "data") for r, _ in larger + smaller if r.get("split") in common]
    if len(common) < 2 or not all(isinstance(d, dict) and d.get("n_test") and d.get("n_train") for d in sizes):
        return [], 0.0
    ratio = statistics.fmean(d["n_test"] / (d["n_train"] + d.get("n_val", 0)) for d in sizes)
    return [a[fold] - b[fold] for fold in common], ratio


def measure(table: Table, comparison: Comparison) -> Effect:
    larger_runs, larger_cell = _runs(table, comparison.larger)
    if isinstance(comparison.smaller, Side):
        smaller_runs, smaller_cell = _runs(table, comparison.smaller)
    else:
        smaller_runs, smaller_cell = [({}, comparison.smaller)], None
    larger, smaller = [v for _, v in larger_runs], [v for _, v in smaller_runs]
    cells = [c for c in (larger_cell, smaller_cell) if c is not None]
    reduced = next((c.reduced for c in cells if c.reduced), "")
    runs = (len(larger), len(smaller) if smaller_cell else 0)
    if not larger or not smaller:
        return Effect(comparison, NOT_RUN, runs=runs)
    level = 1 - table.rule.alpha
    differences, ratio = fold_differences(larger_runs, smaller_runs) if smaller_cell else ([], 0.0)
    if differences:
        effect = statistics.fmean(differences)
        folds = len(differences)
        half = float(stats.t.ppf(level, folds - 1)) * math.sqrt((1 / folds + ratio) * statistics.variance(differences))
        return _verdict(comparison, effect, half, runs, reduced, folds)
    effect = statistics.fmean(larger) - statistics.fmean(smaller)
    if len(larger) < 2 or (smaller_cell is not None and len(smaller) < 2):
        return Effect(comparison, INCONCLUSIVE, effect, runs=runs, reduced=reduced)
    other = PaperValue(statistics.fmean(smaller), statistics.stdev(smaller) if len(smaller) > 1 else 0.0,
                       len(smaller), 0.0, "")
    se, dof = (float(x) for x in welch(statistics.stdev(larger), len(larger), other))
    return _verdict(comparison, effect, float(stats.t.ppf(level, dof)) * se, runs, reduced)


def _verdict(comparison: Comparison, effect: float, half: float, runs: tuple[int, int], reduced: str,
             paired: int = 0) -> Effect:
    ci = (effect - half, effect + half)
    verdict = HOLDS if ci[0] > 0 else FAILS if ci[1] < 0 else INCONCLUSIVE
    return Effect(comparison, verdict, effect, ci, runs, reduced, paired)


def check(claim: Claim, table: Table) -> ClaimResult:
    effects = tuple(measure(table, c) for c in claim.comparisons)
    ran = [e.verdict for e in effects if e.verdict != NOT_RUN]
    verdict = (NOT_RUN if not ran else FAILS if FAILS in ran else HOLDS if all(v == HOLDS for v in ran)
               else INCONCLUSIVE)
    return ClaimResult(claim, verdict, effects)


def checks_of(table: Table) -> list[ClaimResult]:
    """The claims that rest on this table, checked on its runs (at the table's alpha)."""
    return [check(claim, table) for claim in CLAIMS if claim.table == table.spec.name]
