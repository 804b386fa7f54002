# scorefleet: `make demo` runs the whole pipeline on the local real stack; `make test` runs every test.
# Heavy builds are cached under ~/.cache/scorefleet (keyed by version); Python deps go in .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCOREFLEET := $(BIN)/scorefleet
PYTEST_ARGS ?=

.PHONY: setup venv up down status env test unit native-test lint crds docs demo bench-scorer bench-features bench-client bench-operator bench-autoscale

venv: $(VENV)/.installed

# The scorer's feature extraction and MIME parsing are a Rust extension (scorer_native, built by maturin as pinned in
# its pyproject). Cargo's build cache lives outside the clone and outlives it, so a rebuild after a
# change compiles only the crate itself; rustup's default cargo location is on the PATH in case
# the shell's PATH lacks it.
NATIVE := scorer_image/native
NATIVE_SOURCES := $(addprefix $(NATIVE)/,Cargo.toml Cargo.lock pyproject.toml scorer_native.pyi) $(wildcard $(NATIVE)/src/*.rs)
NATIVE_TARGET_DIR ?= $(HOME)/.cache/scorefleet/native-target

$(VENV)/.installed: pyproject.toml requirements.lock $(NATIVE_SOURCES)
	@echo "setup: python virtual environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	@echo "setup: scorer_native (Rust, $(NATIVE)) into $(VENV)"
	@PATH="$(HOME)/.cargo/bin:$$PATH" CARGO_TARGET_DIR="$(NATIVE_TARGET_DIR)" \
	  $(BIN)/pip install -q --no-deps --force-reinstall ./$(NATIVE)
	@touch $@

## setup: Python deps in .venv, then the stack's binaries (etcd, Kubernetes, helm, Kafka, Prometheus)
setup: venv
	@$(SCOREFLEET) devstack setup

## up / down / status / env: the dev stack
up: setup
	@$(SCOREFLEET) devstack up
down:
	@test -x $(SCOREFLEET) && $(SCOREFLEET) devstack down || true
status: venv
	@$(SCOREFLEET) devstack status
env: venv
	@$(SCOREFLEET) devstack env

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy operator/detection_operator scorer_image/scorer devstack/scorefleet_devstack tests bench

## crds: generate crds/ from the pydantic models and copy the CRD into the Helm chart
crds: venv
	$(BIN)/python -m detection_operator.crdgen
	cp crds/detectionpipelines.scorefleet.io.yaml charts/scorefleet/crds/

## docs: generate docs/api.md (the DetectionPipeline reference) from the models
docs: venv
	$(BIN)/python -m detection_operator.docgen

## native-test: the Rust unit tests of scorer_native (MIME fields, URLs, feature rules)
native-test:
	cd $(NATIVE) && PATH="$(HOME)/.cargo/bin:$$PATH" CARGO_TARGET_DIR="$(NATIVE_TARGET_DIR)" cargo test --release --locked -q

unit: venv native-test
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

## test: lint, start a fresh stack, run every test (unit, integration, e2e), stop the stack, return the suite's status
test: setup lint native-test
	@$(SCOREFLEET) devstack down
	@$(SCOREFLEET) devstack up
	@status=0; $(BIN)/pytest -q -p no:cacheprovider tests $(PYTEST_ARGS) || status=$$?; \
	  $(SCOREFLEET) devstack down; exit $$status

## demo: set up what is missing, start the stack, run the whole pipeline end to end (leaves the stack up)
demo: setup
	@$(SCOREFLEET) demo

## benchmarks (each needs the stack: `make up`; each prints its figures and a final JSON line)
bench-scorer: venv
	$(BIN)/python bench/scorer_throughput.py --count 200000 --raw-count 20000
bench-features: venv
	$(BIN)/python bench/features.py --count 20000 --batch-size 500
bench-client: venv
	$(BIN)/python bench/scorer_client_passthrough.py --count 100000
bench-operator: venv
	$(BIN)/python bench/operator_scale.py --count 500
bench-autoscale: venv
	$(BIN)/python bench/autoscale_step.py
