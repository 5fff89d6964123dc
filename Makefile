# mixnam: `make install` (torch + mixnam[dev,node]) then `make test`. Paper reproductions: `make reproduce-table1 [PROFILE=smoke]`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# torch 2.13.0: the CPU build here; on a CUDA machine e.g. TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH  ?= torch==2.13.0
PROFILE ?= paper

# The shared mirror of the public datasets, when it sits beside the checkout (CI, this workplace).
ifneq ($(wildcard ../shared/data),)
export MIXNAM_DATA_MIRROR ?= $(abspath ../shared/data)
endif

.PHONY: install test lint bench figures clean

install:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install $(TORCH)
	$(PY) -m pip install -e ".[dev,node]"

# Two pytest workers, a test file each at a time (its module fixtures train once): on CI's 2 cores the
# Slurm tests' waits for the scheduler overlap with the other files' training. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test:
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# Throughput of the batched MixNAM layers vs a per-feature loop vs the authors' broadcast layer (docs/performance.md).
bench:
	$(PY) scripts/bench_models.py $(ARGS)

lint:
	$(PY) -m ruff check src tests scripts run.py

clean:
	rm -rf outputs multirun .pytest_cache

# ---- The paper's tables: each a resumable sweep, then its report beside the paper's numbers ---------
# make reproduce-table1 [PROFILE=smoke] [ARGS="dataset=housing hydra/launcher=local"]
#   -> results/tables[/<profile>]/table1.md|.tex|.csv (finished runs are skipped; failed ones are recorded and listed)
REPRODUCE := reproduce-table1 reproduce-table2 reproduce-table3 reproduce-table8
.PHONY: $(REPRODUCE) hparam-search keep-records paper-tables
$(REPRODUCE): reproduce-%:
	PY=$(PY) scripts/reproduce_table.sh $* profile=$(PROFILE) $(ARGS)

# make hparam-search [DATASET=housing] [TRIALS=100]: Appendix C's random search for MixNAM, then its best
# trial saved as conf/tuned/mixnam/$(DATASET).yaml (add SAVE="--force" to replace the paper's values).
DATASET ?= housing
TRIALS ?= 100
DIRECTION = $(if $(filter housing year synthetic_%,$(DATASET)),minimize,maximize)
hparam-search:
	$(PY) run.py -m experiment=hparam_search dataset=$(DATASET) profile=$(PROFILE) hydra.sweeper.n_trials=$(TRIALS) \
		hydra.sweeper.direction=$(DIRECTION) hydra.sweep.dir=outputs/hparam_search/$(DATASET) $(ARGS)
	$(PY) scripts/save_tuned.py outputs/hparam_search/$(DATASET) $(SAVE)

# ---- The paper's shape-function figures, drawn from stored runs' shape data ---------------------------
# make figures [FIGURES="4 5 6 7 3"] [PROFILE=smoke]: sweeps experiment=figure4 (Figures 4, 5), figure6, figure7
# (finished runs are skipped), then writes results/figures/figure<N>.png|.pdf; Figure 3 uses any Housing
# runs of ebm/nam/mixnam made with explain=true.
FIGURES ?= 4 5
figures:
	$(PY) scripts/make_figures.py $(FIGURES) --run --override profile=$(PROFILE)

# ---- Evidence kept in the repository --------------------------------------------------------------------
# make keep-records [RUNS=results/runs] [PROFILE=paper]: copy the valid finished records (JSON only) of a profile
# to results/records/<profile>/, where the reports and the skip-if-done logic find them on any clone.
RUNS ?= results/runs
keep-records:
	$(PY) -m mixnam.runs.keep --runs $(RUNS) --profile $(PROFILE)

# make paper-tables: remake every committed paper-profile table (results/tables/) from the kept records alone (not
# results/runs), each by the command in its own provenance line (tests/test_committed_tables.py checks they match).
paper-tables:
	for table in results/tables/*.md; do \
	  args=$$(sed -n 's/.*by `python -m mixnam.report \([^`]*\)`.*/\1/p' $$table | head -n1); \
	  [ -z "$$args" ] || $(PY) -m mixnam.report $$args --runs results/records --records none --force || exit 1; \
	done

# ---- A GPU machine (issue 23) ------------------------------------------------------------------------------
# make gpu-check [OUT=outputs/gpu_check]: everything only CUDA can show, one command of at most ~8 minutes
# (summary.txt, each step's log, the records); exit 0 all passed, 1 a step failed, 2 a step could not run.
# make gpu-evidence [MINUTES=9] [RUNS_AT_ONCE=N]: the missing paper-budget Housing cells of Tables 1, 2, 3 and 8,
# N runs at once on the one GPU until the time is up (the rest stop resumable); then make keep-records.
OUT ?= outputs/gpu_check
MINUTES ?= 9
.PHONY: gpu-check gpu-evidence
gpu-check:
	PY=$(PY) scripts/gpu_check.sh $(OUT)

gpu-evidence:
	$(PY) scripts/gpu_evidence.py --minutes $(MINUTES) $(if $(RUNS_AT_ONCE),--runs-at-once $(RUNS_AT_ONCE)) $(ARGS)

# ---- Issue 15: explanation constraints and interactions --------------------------------------------------
# make reproduce-decoy [PROFILE=smoke]: the decoy sweep (24 small runs, about 10 CPU-minutes on one thread each),
# then results/tables[/<profile>]/decoy.md|.csv. make reproduce-interactions [DATASET=housing] [ARGS=...]: five
# models with explain=true, then interactions.md (ARGS="trainer.max_epochs=20" for a reduced budget).
.PHONY: reproduce-decoy reproduce-interactions
reproduce-decoy:
	$(PY) run.py --multirun experiment=decoy profile=$(PROFILE) $(ARGS)
	$(PY) -m mixnam.report decoy profile=$(PROFILE)

reproduce-interactions:
	$(PY) run.py --multirun experiment=interactions dataset=$(DATASET) profile=$(PROFILE) $(ARGS)
	$(PY) -m mixnam.report interactions dataset=$(DATASET) profile=$(PROFILE)
