# One venv in .venv; every target below installs what it needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow test-slurm bench-throughput bench-backends bench-shapo bench-parity recipes-smoke clean results-report

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps safety-gymnasium==1.0.0
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/shapo-rl train --algo trpo-lag --env SafetyPointGoal1-v0 --steps 40000 \
		--steps-per-epoch 10000 --cost-limit 25 --seed 0 --out runs/demo --force
	$(BIN)/shapo-rl evaluate runs/demo --episodes 5

# In parallel, one worker per core (pytest-xdist).
test: $(STAMP)
	$(BIN)/python -m pytest tests -n auto

# The long checks (marked slow): skybox-free worlds step identically for 200 seeds per task.
test-slow: $(STAMP)
	$(BIN)/python -m pytest tests -m slow

# The tests marked slurm, against a one-node Slurm cluster on this machine that
# tests/slurm_cluster.sh installs (slurm-wlm, munge; as root), starts and stops.
test-slurm: $(STAMP)
	tests/slurm_cluster.sh $(BIN)/python -m pytest tests -m slurm

bench-throughput: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

# The same 200k-step trpo-lag run with the stock and the fast env backend: identical metrics and weights.
bench-backends: $(STAMP)
	$(BIN)/python benchmarks/backends.py

bench-shapo: $(STAMP)
	$(BIN)/python benchmarks/shapo_update_time.py

bench-parity: $(STAMP)
	$(BIN)/python benchmarks/parity.py

clean:
	rm -rf $(VENV) runs

# Every recipe at smoke scale (tiny budgets; outside `make test`), then its report.
recipes-smoke: $(STAMP)
	for r in $$($(BIN)/shapo-rl recipe list | tail -n +2 | cut -d' ' -f1); do \
		$(BIN)/shapo-rl recipe run $$r --scale smoke && $(BIN)/shapo-rl recipe report $$r --scale smoke || exit 1; done

# Every figure and table in results/ again, from the committed CSVs alone (no training).
results-report: $(STAMP)
	for r in evidence-shapo evidence-strpo; do \
		$(BIN)/shapo-rl recipe report $$r --scale bench --results results || exit 1; done
