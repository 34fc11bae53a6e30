# Two commands do all set-up on a fresh machine:
#   make demo   # venv + pinned install, then the main job on the embedded defaults
#   make test   # venv + pinned install, then the test suite
# Override the interpreter or the torch build: make test PYTHON=python3.12 TORCH=torch==2.6.0

PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: install demo test lint clean

install: $(STAMP)

# torch is pinned in the same pip command as everything else: an unpinned resolve pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[all]" "$(TORCH)" -c constraints.txt
	rm -f $(VENV)/.installed-* && touch $@

demo: install
	OMP_NUM_THREADS=1 $(BIN)/srl-agent data convert trajectories/sample.jsonl -o runs/demo/srl_instances.jsonl
	OMP_NUM_THREADS=1 $(BIN)/srl-agent data stats trajectories/sample.jsonl

test: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check srl_agent tests

clean:
	rm -rf $(VENV) runs
