# audgate as the OCI image an Istio WasmPlugin pulls (`url: oci://...`): one
# layer holding /plugin.wasm, the "compat" variant of the Wasm image spec that
# Istio reads. Only for `make image ENGINE=docker` (or podman, buildah), which
# copies the module to target/oci/audgate.wasm and builds with that directory as
# the context:
#
#   docker build -f envoy/plugin.Dockerfile -t registry.example.com/audgate:0.1.0 target/oci
#
# Plain `make image` needs no engine: examples/oci_image.rs writes the same image
# as an OCI layout in target/oci-layout/.
FROM scratch
COPY audgate.wasm ./plugin.wasm
