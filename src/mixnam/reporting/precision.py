"""Which numeric precision a neural run trained in, and a report line when one cell mixes them.

bf16 and fp32 runs of the same cell are different measurements; a mean over both must say so.
Records written before runs stated `precision` took it from the config's `trainer.precision`.
"""
from __future__ import annotations

from collections import Counter

from mixnam.models import NEURAL
from mixnam.reporting.tables import Table
from mixnam.runs.lookup import MISSING, dig


def precision_of(record: dict) -> str | None:
    """The run's training precision; None for library models, which train in their own (float64) arithmetic."""
    if record.get("model") not in NEURAL:
        return None
    stated = record.get("precision") or dig(record, "config.trainer.precision")
    return None if stated is MISSING else stated


def precision_line(table: Table) -> str | None:
    """'- Precision: ...' for the provenance: the precisions used, and every cell whose runs mix them."""
    used = Counter(p for r in table.records if (p := precision_of(r)) is not None)
    if not used:
        return None
    mixed = []
    for (row, column), cell in table.cells.items():
        counts = Counter(p for r in cell.records if (p := precision_of(r)) is not None)
        if len(counts) > 1:
            mixed.append(f"{row} / {column} ({', '.join(f'{p} x{n}' for p, n in sorted(counts.items()))})")
    line = "- Precision of the neural runs: " + ", ".join(f"{p} ({n} runs)" for p, n in used.most_common()) + "."
    return line + (" **Cells mixing precisions:** " + "; ".join(mixed) + "." if mixed else "")
