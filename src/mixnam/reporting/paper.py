"""The paper's own numbers (transcribed in `paper/*.csv`) and the test of whether ours lie within their noise."""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PAPER_DIR = Path(__file__).with_name("paper")
SUFFIX_POWERS = {"k": 1, "M": 2}


@dataclass(frozen=True)
class PaperValue:
    """A printed mean +- std over `n` runs; `resolution` is the unit of the last printed digit."""

    mean: float
    std: float
    n: int
    resolution: float
    text: str  # as printed, e.g. "0.451 ± 0.002"

    @classmethod
    def parse(cls, mean: str, std: str | None = None, n: int = 1, binary: bool = False) -> PaperValue:
        """`"0.451"`, `"78.66"` or a size like `"37k"`, `"1.1M"` (`binary`: k = 1024, as memory in Table 9)."""
        scale, digits = 1.0, mean
        if mean[-1] in SUFFIX_POWERS:
            scale, digits = (1024 if binary else 1000) ** SUFFIX_POWERS[mean[-1]], mean[:-1]
        decimals = len(digits.partition(".")[2])
        return cls(float(digits) * scale, float(std or 0) * scale, n, 10.0 ** -decimals * scale,
                   mean + (f" ± {std}" if std else ""))


@cache
def table(name: str) -> list[dict[str, str]]:
    """The rows of `paper/<name>.csv` as strings (the printed digits matter for the rounding)."""
    with open(PAPER_DIR / f"{name}.csv", newline="") as handle:
        return [row for row in csv.DictReader(line for line in handle if not line.startswith("#"))]


def welch_p(mean: float, std: float, n: int, paper: PaperValue) -> float | None:
    """Two-sided p of Welch's t-test between our runs and the paper's mean +- std over its n runs.

    The paper's printed mean is rounded: a uniform error of one printed unit (variance unit^2 / 12) is
    added to the standard error, so a deterministic model that matches to the printed digit is within
    the noise and one that misses it is not. None when we have fewer than 2 runs (no std of ours).
    """
    from scipy import stats

    if n < 2:
        return None
    ours, theirs = std ** 2 / n, paper.std ** 2 / paper.n
    variance = ours + theirs + paper.resolution ** 2 / 12
    dof_terms = [v ** 2 / (k - 1) for v, k in ((ours, n), (theirs, paper.n)) if v > 0 and k > 1]
    dof = variance ** 2 / sum(dof_terms) if dof_terms else math.inf
    t = (mean - paper.mean) / math.sqrt(variance)
    return float(2 * stats.t.sf(abs(t), dof))
