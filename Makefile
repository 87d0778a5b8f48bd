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

.PHONY: install demo test lint bench clean

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
	@echo "== Every preset, counted exactly (scaling count --preset all)"
	$(VENV)/bin/scaling count --preset all
	@echo; echo "== GPT-3's budget, spent GPT-3's way and Chinchilla's way (scaling plan --flops 3.14e23 --law epoch)"
	$(VENV)/bin/scaling plan --flops 3.14e23 --law epoch
	@echo; echo "== 1,000 H100-hours, and a model that will serve 1T tokens"
	$(VENV)/bin/scaling plan --gpu-hours 1000 --gpu h100-sxm --inference-tokens 1e12
	@echo; echo "== An isoFLOP grid for three small budgets"
	$(VENV)/bin/scaling grid --flops 1e17,1e18,1e19 --points 5

lint: install
	$(VENV)/bin/ruff check scaling experiments tests bench

test: lint
	$(PY) -m pytest -q

bench: install
	$(PY) bench/plan_startup.py
	$(PY) bench/fit_speed.py
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
