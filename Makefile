# torque.eks_irsa: every entry point. `make demo` and `make test` do their own set-up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
STACK_ENV := .build/stack/stack.env
SANITY_ROOT := .build/sanity/ansible_collections
PYTEST_ARGS ?=
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help setup demo test unit sanity lint docs-lint integration matrix stack-up stack-down docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup:  ## create .venv, extract amazon.aws + kubernetes.core, link this collection (seconds when cached)
	@tools/setup.sh

demo: setup  ## start the local stack, run the demo playbook against it, stop the stack
	@tools/demo.sh

test: setup  ## every test: unit, sanity, lint, docs lint, integration, then the ansible-core matrix
	@$(MAKE) --no-print-directory unit sanity lint docs-lint integration matrix
	@echo "all tests passed"

unit: setup  ## unit tests: module_utils, modules, filters, action plugins, and the local stack itself
	$(BIN)/pytest tests/unit tests/stack -q $(PYTEST_ARGS)

integration: setup  ## real ansible-playbook runs against the local stack
	$(BIN)/pytest tests/integration -q -n 2 $(PYTEST_ARGS)

matrix: setup  ## the built collection on every ansible-core claimed: unit tests and an integration subset each
	@tools/matrix.sh

sanity: setup  ## ansible-test sanity on a copy of the collection beside its dependencies
	@tools/sanity.sh

lint: setup  ## ansible-lint, production profile, offline
	$(BIN)/ansible-lint --offline --profile production

docs-lint: setup  ## the modules', plugins' and roles' docs as the Ansible docsite checks them (antsibull-docs), offline
	@tools/docs-lint.sh

stack-up: setup  ## start the local stack in the background; writes $(STACK_ENV)
	@$(BIN)/python -m tests.stack up --env-file $(STACK_ENV)

stack-down:  ## stop the local stack started by stack-up
	@$(BIN)/python -m tests.stack down --env-file $(STACK_ENV)

clean: stack-down  ## remove the venv and build artefacts
	rm -rf $(VENV) .build .ansible tests/output
