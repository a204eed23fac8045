# The whole set-up is `make setup`; `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned to 2.13.0; where pip finds the CPU build locally it takes it. Elsewhere, set
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu to avoid the multi-GB CUDA build.
PIP_INSTALL := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: setup test lint format synth demo clean sdk-setup sdk3-setup checkov-setup bench-setup
.DEFAULT_GOAL := help

help:
	@echo "make setup   install everything into .venv and node_modules"
	@echo "make demo    the main job end to end on the local cloud"
	@echo "make test    lint + the whole test suite"
	@echo "make synth   cdk synth of every environment"

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup sdk-setup sdk3-setup checkov-setup lint
	$(BIN)/pytest

synth: setup
	npx --no-install cdk synth --quiet

demo: setup
	$(BIN)/smlocal demo

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache

# The SageMaker Python SDK v2 lives in a venv of its own (its pins fight the project's; it needs
# no torch), with the AWS CLI and nbclient + ipykernel: tests/sdk runs the PyTorch MNIST
# walkthrough and `aws` in it against the local cloud, tests/notebooks the notebook.
SDK_VENV := .venv-sdk
sdk-setup: $(SDK_VENV)/.installed

$(SDK_VENV)/.installed: constraints-sdk.txt
	test -x $(SDK_VENV)/bin/python || $(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --disable-pip-version-check -q -c constraints-sdk.txt "sagemaker>=2,<3" \
		awscli nbclient ipykernel
	touch $@

# The SageMaker Python SDK v3 (sagemaker>=3: ModelTrainer, sagemaker-core) in a venv of its own
# too (it is the same distribution, `sagemaker`, at another major version): tests/sdk/test_sdk3.py
# trains and serves through it. s3fs is pinned to 0.4.2, the last without aiobotocore, whose botocore
# ceiling no boto3 that sagemaker-core accepts meets (pip would backtrack through them all).
SDK3_VENV := .venv-sdk3
sdk3-setup: $(SDK3_VENV)/.installed

$(SDK3_VENV)/.installed: constraints-sdk3.txt
	test -x $(SDK3_VENV)/bin/python || $(PYTHON) -m venv $(SDK3_VENV)
	$(SDK3_VENV)/bin/pip install --disable-pip-version-check -q -c constraints-sdk3.txt "sagemaker>=3,<4"
	touch $@

# checkov pins boto3 exactly (older than the project's), so it too lives in a venv of its own:
# tests/stacks runs its CloudFormation checks on every synthesized template.
CHECKOV_VENV := .venv-checkov
checkov-setup: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: constraints-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --disable-pip-version-check -q -c constraints-checkov.txt checkov
	touch $@

# The serving benchmark's peers (multi-model-server, TorchServe with the SageMaker PyTorch
# toolkit) and py-spy, in .venv-bench; not part of `make test` (needs java).
bench-setup: setup
	$(BIN)/python benchmarks/bench_serving.py setup
