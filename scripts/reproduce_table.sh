#!/usr/bin/env bash
# One of the paper's tables end to end: its sweep (resumable: finished runs are skipped), then its report.
#   scripts/reproduce_table.sh table1 [profile=smoke] [dataset=housing] [hydra/launcher=local] [...]
# writes results/tables[/<profile>]/<table>.md|.tex|.csv. `make reproduce-table1 PROFILE=smoke ARGS="..."` calls this.
set -euo pipefail
table=$1
shift
PY=${PY:-.venv/bin/python}
# A failed run leaves a `failed` record and the sweep goes on; the report says which cells are missing and why.
"$PY" run.py --multirun "experiment=$table" "$@"
"$PY" -m mixnam.report "$table" "$@"
