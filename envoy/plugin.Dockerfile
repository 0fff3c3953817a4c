# audgate as the OCI image an Istio WasmPlugin pulls (`url: oci://...`): one
# layer holding /plugin.wasm, the "compat" variant of the Wasm image spec that
# Istio reads. `make image` copies the module to target/oci/audgate.wasm and
# builds with that directory as the context:
#
#   docker build -f envoy/plugin.Dockerfile -t registry.example.com/audgate:0.1.0 target/oci
FROM scratch
COPY audgate.wasm ./plugin.wasm
