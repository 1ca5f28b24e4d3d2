# Every target bootstraps itself from a bare Python 3.11: .tools holds uv, .venv the locked deps.
SHELL := /bin/bash
PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced
# `make run` needs the runtime dependencies only; the other targets, the dev group as well.
RUN_STAMP := $(VENV)/.synced-run
# The workspace members' own sources (installed editable, so not compiled by uv).
SOURCES := libs/common/src libs/testkit/src services/auth/src services/referral/src services/profile/src run/src gateway/src

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint fmt run stack bench lint-deploy clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	@echo "==> creating $(TOOLS) with uv"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check 'uv==0.13.9'

# --compile-bytecode, and compileall for the workspace's own sources: where Python may not write
# bytecode (PYTHONDONTWRITEBYTECODE=1), every process would compile every module it imports
# again; a service then takes about 6 s instead of 2 s to start (measured on 2 cores).
$(STAMP): $(UV) uv.lock pyproject.toml
	@echo "==> installing locked dependencies into $(VENV)"
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q $(SOURCES) >/dev/null
	@touch $(STAMP)

# --inexact: a dev environment already there keeps its tools, so `make test` after `make run`
# only adds to it.
$(RUN_STAMP): $(UV) uv.lock pyproject.toml
	@echo "==> installing the locked runtime dependencies into $(VENV)"
	$(UV) sync --frozen --no-dev --inexact --compile-bytecode --package runmodes --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q $(SOURCES) >/dev/null
	@touch $(RUN_STAMP)

install: $(STAMP) ## Create .venv with the locked dependencies (idempotent)

test: $(STAMP) ## Run the whole suite (REQUIRE_SERVICES=1: real PostgreSQL/Redis/nginx/Chromium, no skips)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/common/src libs/testkit/src services/auth/src services/referral/src services/profile/src gateway/src run/src

fmt: $(STAMP) ## Format and auto-fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

run: $(RUN_STAMP) ## Whole system in one process on 127.0.0.1:$PORT (SQLite, in-process store)
	$(PY) -m runmodes

stack: $(STAMP) ## Microservices natively: nginx + 3 uvicorn + local PostgreSQL/Redis, gateway on $GATEWAY_PORT
	$(PY) -m runmodes.stack

bench: $(STAMP) ## Seed, start the stack, load it with wrk; report under bench/results/
	$(PY) -m bench.run

# The Kubernetes schemas kubernetes-validate checks against (a release it ships; tests/deploy/
# uses the same).
K8S_VERSION := 1.32.0
K8S_RENDERED := var/k8s

lint-deploy: $(STAMP) ## hadolint, dclint, nginx -t; deploy/k8s: kustomize, kubernetes-validate --strict, yamllint
	$(PY) -m pytest -q gateway/tests/test_lint.py gateway/tests/test_native_config.py
	@mkdir -p $(K8S_RENDERED)
	@for overlay in dev prod; do \
		echo "==> deploy/k8s/overlays/$$overlay: kubectl kustomize, kubernetes-validate"; \
		kubectl kustomize deploy/k8s/overlays/$$overlay > $(K8S_RENDERED)/$$overlay.yaml || exit 1; \
		$(VENV)/bin/kubernetes-validate --strict --quiet --kubernetes-version $(K8S_VERSION) \
			$(K8S_RENDERED)/$$overlay.yaml || exit 1; \
	done
	$(VENV)/bin/yamllint --strict -c deploy/k8s/.yamllint.yaml deploy/k8s
	$(PY) -m pytest -q tests/deploy

clean: ## Remove the virtual environments and local state
	rm -rf $(VENV) $(TOOLS) var artifacts
