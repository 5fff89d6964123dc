"""Verdicts by equivalence: a cell is `reproduced` only when the data show it, never because a test
failed to find a difference.

For a cell with a paper value, Δ = ours - paper gets a (1 - 2 alpha) Welch confidence interval (90%
at alpha = 0.05) from our runs and the paper's mean +- std over its protocol's runs, the paper's
rounding added as a uniform error of one printed unit. Against a declared margin m:
- `reproduced`: the interval lies inside +-m (two one-sided tests at alpha, TOST);
- `differs`: the interval lies entirely outside +-m ("CI outside the margin"), or Δ is significant
  (two-sided, at alpha) and |Δ| > m ("significant and |Δ| > margin");
- `inconclusive`: neither; it says how many more runs of ours, at the observed mean and std, would
  likely decide it (none can when the paper's own spread is what leaves it open);
- `reduced budget`: any run below the paper's budget (fewer epochs, fewer rows, a non-paper
  profile): no verdict, the budget explains any difference;
- `n < 2`: no std of ours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mixnam.reporting.paper import PaperValue, welch

REPRODUCED, DIFFERS, INCONCLUSIVE, REDUCED, TOO_FEW = "reproduced", "differs", "inconclusive", "reduced budget", "n < 2"
VERDICTS = (REPRODUCED, DIFFERS, INCONCLUSIVE, REDUCED, TOO_FEW)
MAX_EXTRA_RUNS = 1000  # beyond this, more runs of ours are not a practical way to decide a cell


@dataclass(frozen=True)
class Rule:
    """The equivalence margin m = max(std_multiple x paper std, printed resolution, relative_floor x |paper|)
    and the test level alpha (docs/verdicts.md)."""

    alpha: float = 0.05
    std_multiple: float = 2.0
    relative_floor: float = 0.005

    def __post_init__(self):
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha={self.alpha} must lie in (0, 0.5): the interval is 1 - 2 alpha")
        if self.std_multiple < 0 or self.relative_floor < 0:
            raise ValueError("the margin's std multiple and relative floor must be >= 0")

    def margin(self, paper: PaperValue) -> float:
        return max(self.std_multiple * paper.std, paper.resolution, self.relative_floor * abs(paper.mean))


@dataclass(frozen=True)
class Verdict:
    label: str  # one of VERDICTS
    diff: float | None = None
    ci: tuple[float, float] | None = None
    margin: float | None = None
    p_value: float | None = None
    reason: str = ""  # differs: which rule; inconclusive: how many more runs; reduced budget: what was reduced
    runs_to_decide: int | None = None  # inconclusive: more runs of ours that would likely decide it


def _decided(diff: float, se: np.ndarray, dof: np.ndarray, margin: float, alpha: float) -> np.ndarray:
    """Whether an interval of half-width t x se around diff would give `reproduced` or `differs`."""
    one_sided, two_sided = stats.t.ppf(1 - alpha, dof), stats.t.ppf(1 - alpha / 2, dof)
    inside = abs(diff) + one_sided * se <= margin
    outside = abs(diff) - one_sided * se > margin
    significant_beyond = (abs(diff) > margin) & (abs(diff) > two_sided * se)
    return inside | outside | significant_beyond


def runs_to_decide(mean: float, std: float, n: int, paper: PaperValue, margin: float, alpha: float) -> int | None:
    """More runs of ours (same mean and std) after which the cell would likely be decided; None: no number will."""
    extra = np.arange(1, MAX_EXTRA_RUNS + 1)
    se, dof = welch(std, n + extra, paper)
    decided = _decided(mean - paper.mean, se, dof, margin, alpha)
    return int(extra[decided.argmax()]) if decided.any() else None


def judge(values: list[float], paper: PaperValue, rule: Rule, reduced: str = "") -> Verdict:
    """The verdict on our runs' `values` against the paper's value (see the module docstring)."""
    n = len(values)
    mean = float(np.mean(values)) if n else math.nan
    diff = mean - paper.mean if n else None
    if reduced:
        return Verdict(REDUCED, diff, reason=reduced)
    if n < 2:
        return Verdict(TOO_FEW, diff)
    std = float(np.std(values, ddof=1))
    margin = rule.margin(paper)
    se, dof = (float(x) for x in welch(std, n, paper))
    half = float(stats.t.ppf(1 - rule.alpha, dof)) * se
    ci = (diff - half, diff + half)
    p = float(2 * stats.t.sf(abs(diff) / se, dof)) if se > 0 else float(diff == 0)
    if -margin <= ci[0] and ci[1] <= margin:
        return Verdict(REPRODUCED, diff, ci, margin, p)
    if ci[0] > margin or ci[1] < -margin:
        return Verdict(DIFFERS, diff, ci, margin, p, "CI outside the margin")
    if p < rule.alpha and abs(diff) > margin:
        return Verdict(DIFFERS, diff, ci, margin, p, "significant and |Δ| > margin")
    more = runs_to_decide(mean, std, n, paper, margin, rule.alpha)
    reason = (f"≈ {more} more runs would likely decide it" if more is not None else
              f"more runs of ours cannot decide it (> {MAX_EXTRA_RUNS}, or the paper's own spread leaves it open)")
    return Verdict(INCONCLUSIVE, diff, ci, margin, p, reason, more)
