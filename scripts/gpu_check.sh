#!/usr/bin/env bash
# The GPU check (issue 23): everything that only a CUDA machine can show, in one command of at most
# ~8 minutes, without network. Writes OUT_DIR/summary.txt (one line per step: ok / FAILED / NOT RUN, and
# its seconds), each step's log, and every record it made under OUT_DIR/results/. Exit status: 0 when
# every step ran and passed, 1 when a step failed, 2 when none failed but one could not run (a
# package missing on the machine, named in the summary).
#   scripts/gpu_check.sh [OUT_DIR]          (make gpu-check [OUT=...]; PY=python3 where there is no .venv)
#   STEPS="smoke_models sigterm_resume" scripts/gpu_check.sh ...   runs only the steps named (and versions)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$(mkdir -p "${1:-outputs/gpu_check}" && cd "${1:-outputs/gpu_check}" && pwd)
PY=${PY:-.venv/bin/python}
RESULTS="$OUT/results"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
export PYTHONUNBUFFERED=1
SETTINGS=("paths.results_dir=$RESULTS" "hydra.sweep.dir=$OUT/multirun" "hydra.run.dir=$OUT/single" trainer=gpu
          trainer.enable_progress_bar=false)
RUN=("$PY" run.py "${SETTINGS[@]}")
SWEEP=("$PY" run.py -m "${SETTINGS[@]}")  # Hydra takes -m before the overrides

note() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME LIMIT_S COMMAND...: run one step with its own log and time limit; its line goes to the summary
step() {
  local name=$1 limit=$2 start status
  shift 2
  [ -z "${STEPS:-}" ] || [ "$name" = versions ] || [[ " $STEPS " == *" $name "* ]] || return 0
  start=$(date +%s)
  timeout --kill-after=20 "$limit" "$@" > "$OUT/$name.log" 2>&1
  status=$?
  if [ $status -eq 0 ]; then
    note "$name: ok, $(( $(date +%s) - start )) s"
  else
    note "$name: FAILED (exit $status$([ $status -eq 124 ] && echo ", over its ${limit} s")), $(( $(date +%s) - start )) s; see $name.log"
  fi
}

has() { "$PY" -c "import $1" > /dev/null 2>&1; }

note "mixnam GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit ${MIXNAM_GIT_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
step versions 60 bash -c "nvidia-smi; $PY -c 'import sys, torch, lightning; print(sys.version); \
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"cudnn\", torch.backends.cudnn.version()); \
print(\"lightning\", lightning.__version__); print(torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)); \
assert torch.cuda.is_available()'"
grep -q FAILED "$SUMMARY" && { note "no usable CUDA device: the rest of the check needs one"; exit 1; }
grep -E "NVIDIA|torch|lightning" "$OUT/versions.log" | head -4 | sed 's/^/  /' | tee -a "$SUMMARY"

# 1. Tests marked gpu (dropout keep rate and its reproducibility after a restored CUDA state, CUDA vs CPU
#    forward, a crashed-and-resumed run on CUDA), in parallel with the smoke sweep and the estimator.
step tests_gpu 150 "$PY" -m pytest -q -p no:cacheprovider -m gpu -rs tests/test_gpu_path.py tests/test_reliability.py &
# 2. Every neural model in fp32 and bf16 in one process (a basic multirun): each run must leave the process as
#    it found it.
step smoke_models 150 "${SWEEP[@]}" profile=smoke dataset=housing experiment_name=gpu_check_smoke \
  model=mixnam,mixnam_d,mixnam_e,nam,na2m,nbm,nb2m,mlp trainer.precision=32-true,bf16-mixed &
# 3. The scikit-learn estimator on the GPU: fit, predict, save/load, explain.
step estimator_cuda 120 "$PY" - <<'PYTHON' &
import tempfile
import numpy as np
from sklearn.datasets import load_diabetes
from mixnam.estimators import MixNAMRegressor

X, y = load_diabetes(return_X_y=True, as_frame=True)
model = MixNAMRegressor(device="cuda", max_epochs=5).fit(X, y)
predicted = model.predict(X)
with tempfile.TemporaryDirectory() as tmp:
    again = MixNAMRegressor.load(model.save(f"{tmp}/model.pt"))
np.testing.assert_allclose(again.predict(X), predicted, rtol=1e-5, atol=1e-6)
shapes = model.explain(X)
print("cuda estimator: rmse", float(np.sqrt(np.mean((predicted - y) ** 2))), "explained", type(shapes).__name__)
PYTHON
wait

# Metrics and plots of a finished fit never fail a run (their error is kept in its record): here they must not fail.
step records_clean 60 "$PY" - "$RESULTS" <<'PYTHON'
import json, pathlib, sys
records = [json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).rglob("*.json") if not p.name.startswith(".")]
bad = [f"{r['model']} {r.get('config', {}).get('trainer', {}).get('precision')}: {r.get('status')} "
       f"{r.get('error') or r.get('interpretability', {}).get('error')}" for r in records
       if r.get("status") != "completed" or "error" in (r.get("interpretability") or {})]
print(f"{len(records)} records, {len(bad)} with an error", *bad, sep="\n")
assert records and not bad
PYTHON

# 4. A 100-epoch MixNAM Housing run at the paper's settings, alone on the GPU, timed.
step mixnam_100_epochs 120 "${RUN[@]}" dataset=housing model=mixnam trainer.max_epochs=100 experiment_name=gpu_check \
  force=true
"$PY" - "$RESULTS" >> "$SUMMARY" <<'PYTHON'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("runs/gpu_check/housing/mixnam/*.json")):
    r = json.loads(path.read_text())
    if r.get("status") == "completed":
        print(f"  MixNAM Housing, 100 epochs on {r['env'].get('gpu')}: {r['fit_seconds']:.1f} s fit "
              f"({r['fit_seconds'] / max(r['epochs_run'], 1):.3f} s/epoch), test RMSE {r['metrics']['test']['rmse']:.4f}, "
              f"{r['precision']}, matmul {r['matmul_precision']}")
PYTHON

# 5. SIGTERM in the middle of a run, then resume=true, against the same run uninterrupted.
resume_check() {
  local args=(dataset=housing model=mixnam trainer.max_epochs=40 trainer.checkpoint_every_n_epochs=5
              trainer.patience_fraction=1 experiment_name=gpu_check_resume force=false)
  "${RUN[@]}" "${args[@]}" "paths.runs_dir=$RESULTS/whole" || return 1
  "${RUN[@]}" "${args[@]}" "paths.runs_dir=$RESULTS/stopped" & local pid=$!
  for _ in $(seq 600); do
    [ -n "$(find "$RESULTS/stopped" -name last.ckpt 2>/dev/null)" ] && break
    sleep 0.2
  done
  sleep 1
  kill -TERM $pid
  wait $pid
  echo "first part exited $? (143 expected)"
  "${RUN[@]}" "${args[@]}" "paths.runs_dir=$RESULTS/stopped" resume=true || return 1
  "$PY" - "$RESULTS" <<'PYTHON'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
whole, stopped = (json.loads(next((root / part).rglob("split0-seed0-*.json")).read_text()) for part in ("whole", "stopped"))
assert stopped["status"] == "completed" and stopped["resumed"], stopped.get("error")
a, b = whole["metrics"]["test"]["rmse"], stopped["metrics"]["test"]["rmse"]
print(f"uninterrupted test RMSE {a:.6f}, stopped by SIGTERM and resumed {b:.6f}, difference {abs(a - b):.2e}")
# a signal lands mid-epoch: the resumed run starts that epoch again with a fresh batch order, so it ends near,
# not bit for bit at, the uninterrupted run (an end-of-epoch crash resumes exactly: tests/test_reliability.py)
assert abs(a - b) < 0.01 * a, "the resumed run ends far from the uninterrupted one"
PYTHON
}
# `timeout` runs programs, not shell functions: the function goes to a bash of its own with what it reads
step sigterm_resume 150 bash -c "$(declare -p PY RESULTS RUN); $(declare -f resume_check); resume_check"
grep "difference" "$OUT/sigterm_resume.log" | sed 's/^/  /' >> "$SUMMARY"

# 6. NODE-GAM and XGBoost on the GPU (a smoke budget); NODE-GAM in the same process after a deterministic MixNAM run.
if has nodegam; then
  step node_gpu 90 "${SWEEP[@]}" profile=smoke dataset=housing experiment_name=gpu_check_node model=mixnam,nodegam \
    trainer.deterministic=true
else
  note "node_gpu: NOT RUN (nodegam is not importable here: install mixnam[node])"
fi
if has xgboost; then
  step xgboost_gpu 120 "${RUN[@]}" profile=smoke dataset=housing experiment_name=gpu_check_xgboost model=xgboost
else
  note "xgboost_gpu: NOT RUN (xgboost is not importable here)"
fi

# 7. The step's throughput on the GPU (make bench ARGS="--device cuda"), and one Housing epoch through the trainer.
step bench_cuda 90 "$PY" scripts/bench_models.py --device cuda --seconds 0.5 --epochs housing --steady housing

failed=$(grep -c ": FAILED" "$SUMMARY")
not_run=$(grep -c ": NOT RUN" "$SUMMARY")
note "failed: $failed, not run: $not_run"
[ "$failed" -eq 0 ] || exit 1
[ "$not_run" -eq 0 ] || exit 2
