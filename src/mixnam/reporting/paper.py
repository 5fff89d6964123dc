"""The paper's own numbers (transcribed in `paper/*.csv`) and the Welch statistics of ours against them."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

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


def welch(std: float, n, paper: PaperValue) -> tuple[np.ndarray, np.ndarray]:
    """Standard error and Welch degrees of freedom of ours (std over n runs; n may be an array) minus the paper.

    The paper's printed mean is rounded: a uniform error of one printed unit (variance unit^2 / 12) is
    added to the standard error, so a deterministic model that matches to the printed digit is within
    the noise and one that misses it is not.
    """
    n = np.asarray(n, dtype=np.float64)
    ours, theirs = std ** 2 / n, paper.std ** 2 / paper.n
    variance = ours + theirs + paper.resolution ** 2 / 12
    dof_terms = np.broadcast_to((ours ** 2 / np.maximum(n - 1, 1) if std > 0 else 0.0)
                                + (theirs ** 2 / (paper.n - 1) if theirs > 0 and paper.n > 1 else 0.0), variance.shape)
    dof = np.divide(variance ** 2, dof_terms, out=np.full(variance.shape, np.inf), where=dof_terms > 0)
    return np.sqrt(variance), dof

