# The demo of `make run` (examples/demo.rs) as a container: the demo issuer's
# JWKS on 127.0.0.1:10002, an echo upstream on 127.0.0.1:10001, and, once Envoy's
# admin on 127.0.0.1:9901 answers, curl commands with tokens on stdout. (Its token
# service on 127.0.0.1:10003 serves the caller-side Envoy, envoy/outbound.yaml,
# which `make run` and docker-compose.yaml run beside envoy.yaml.) It
# listens on 127.0.0.1 only, so it must share Envoy's network namespace
# (docker-compose.yaml: network_mode: service:envoy). Build from the repository
# root:
#
#   docker build -f envoy/demo.Dockerfile -t audgate-demo .
#
# RUST_IMAGE and RUNTIME_IMAGE swap the build and runtime bases.
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# The whole crate: the demo includes tests/support/*.rs and the key fixtures.
COPY . .
RUN cargo build --release --locked --example demo

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/target/release/examples/demo /usr/local/bin/audgate-demo
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/audgate-demo"]
