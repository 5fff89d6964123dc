"""The result store seen from a table: which record answers which job of an experiment sweep.

A job (`mixnam.sweeps.expand`) is a list of overrides such as `model=mixnam model.top_k=2 split=0
seed=3`; its record is the one of the same experiment and profile whose fields (`model`, `dataset`,
`split`, `seed`) and resolved config (`model.top_k`) carry those values; overrides that do not change
a result (`paths.*`, `force`, ...; see `records.NON_RESULT_KEYS`) are not compared. Matching on what the sweep
names, not on the full config hash, keeps records valid after an unrelated config key is added.
When several records answer a job (a rerun under another config), the newest completed one is used,
else the newest failed one, whose error says why the cell is empty. A record answers only jobs of its
`fidelity` (`paper` unless the job says `fidelity=code`; records made before the switch are `paper`).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from mixnam.runs.records import NON_RESULT_KEYS, NON_RESULT_SUBKEYS, iter_records, upgraded

RECORD_FIELDS = {"model": "model", "dataset": "dataset", "split": "split", "seed": "seed", "profile": "profile",
                 "experiment_name": "experiment"}
MISSING = object()


def parse_job(job: list[str]) -> dict[str, Any]:
    """`["model=mixnam", "model.top_k=2"]` -> `{"model": "mixnam", "model.top_k": 2}` (typed as Hydra types them)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(job)}


def compared(key: str) -> bool:
    """Whether an override's key can change a result (and so must match the record's); `hydra/...` cannot."""
    head, _, rest = key.partition(".")
    return head.split("/")[0] not in NON_RESULT_KEYS and rest.split(".")[0] not in NON_RESULT_SUBKEYS.get(head, ())


def dig(node: Any, dotted: str) -> Any:
    """`dig(record, "metrics.test.rmse")`; a sentinel (never equal to a value) where the path is absent."""
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def record_value(record: dict, key: str) -> Any:
    """A record's top-level field for `model`, `dataset`, `split`, ...; else the resolved config's dotted key."""
    if key in RECORD_FIELDS:
        return record.get(RECORD_FIELDS[key], MISSING)
    return dig(record.get("config", {}), key)


class Store:
    """All records under the given directories (the raw runs, the kept records), indexed by
    (experiment, profile, dataset, model)."""

    def __init__(self, *dirs: str | Path):
        self._index: dict[tuple, list[dict]] = defaultdict(list)
        for path, record in iter_records(*dirs):
            record = upgraded(record)
            record["_path"] = str(path)
            self._index[tuple(record.get(k) for k in ("experiment", "profile", "dataset", "model"))].append(record)

    def find(self, profile: str, job: dict[str, Any]) -> dict | None:
        """The record that answers `job` (parsed overrides naming `experiment_name`, `model`, `dataset`, ...)."""
        key = (job.get("experiment_name"), profile, job.get("dataset"), job.get("model"))
        fidelity = job.get("fidelity", "paper")
        candidates = [r for r in self._index.get(key, []) if r.get("fidelity", "paper") == fidelity
                      and all(record_value(r, k) == v for k, v in job.items() if compared(k) and k != "fidelity")]
        if not candidates:
            return None
        return max(candidates, key=lambda r: (r.get("status") == "completed", r.get("finished_at") or ""))
