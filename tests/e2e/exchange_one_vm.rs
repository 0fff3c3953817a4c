//! A workload's two audgate plugins in one proxy: its inbound (Istio `mode:
//! SERVER`) and its outbound (`mode: CLIENT`) filter, built from one module
//! with the same VM settings, share one VM (Envoy keys VMs by `vm_id`, VM
//! configuration and code; 1.40 by environment too). Given the same
//! environment, both work; and a
//! request whose exchange is under way is not stranded when the request that
//! started it hangs up, since the exchange belongs to the worker.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::cases::ISSUER;
use crate::support::chain::{
    assert_never_forwarded, shipped_outbound_config, sts_settings, subject_token, Chain,
    CLIENT_SECRET, PAYMENTS, SECRET_ENV,
};
use crate::support::envoy_yaml;
use crate::support::keys::{self, TestKey};
use crate::support::{http, Envoy, Upstream};

/// envoy/outbound.yaml with a second listener, `inbound`, whose audgate filter
/// has the same VM settings and `inbound_config`, in front of `upstream`.
fn two_plugins(inbound_config: &Value, inbound_env: bool) -> String {
    let template = envoy_yaml::outbound_template();
    let start = template.find("  - name: audgate\n").unwrap();
    let end = template.find("\n  clusters:\n").unwrap();
    let mut inbound = template[start..end]
        .replacen("  - name: audgate\n", "  - name: inbound\n", 1)
        .replacen("port_value: 10010 }", "port_value: 0 }", 1)
        .replacen("name: audgate-outbound", "name: audgate-inbound", 1)
        .replacen(
            "route: { cluster: payments }",
            "route: { cluster: inbound_upstream }",
            1,
        );
    if !inbound_env {
        inbound = inbound.replacen("                  environment_variables:\n                    host_env_keys: [AUDGATE_STS_SECRET]\n", "", 1);
    }
    // The inbound copy's configuration on one line, and its module path made
    // absolute: the rendering replaces the outbound filter's markers only.
    let config_start = inbound.find("value: |\n").unwrap();
    let config_end = inbound[config_start..]
        .find("          - name: envoy.filters.http.router")
        .unwrap()
        + config_start;
    inbound.replace_range(
        config_start..config_end,
        &format!(
            "value: '{}'\n",
            serde_json::to_string(inbound_config).unwrap()
        ),
    );
    let wasm = crate::support::envoy::wasm_path();
    inbound = inbound.replacen(
        "filename: target/wasm32-wasip1/release/audgate.wasm",
        &format!("filename: \"{}\"", wasm.display()),
        1,
    );
    let mut yaml = template.clone();
    yaml.insert_str(end, &format!("\n{}", inbound.trim_end_matches('\n')));
    yaml
}

fn inbound_config() -> Value {
    json!({"providers": [{
        "name": "idp", "issuer": ISSUER, "audiences": ["orders.svc"],
        "local_jwks": keys::jwks(&[TestKey::Rsa1]),
    }]})
}

#[test]
fn the_inbound_and_outbound_plugins_of_one_workload_share_a_vm_and_both_work() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    let inbound_upstream = Upstream::start();
    let yaml = envoy_yaml::with_clusters(
        &two_plugins(&inbound_config(), true),
        &[envoy_yaml::static_cluster(
            "inbound_upstream",
            inbound_upstream.port(),
        )],
    );
    let envoy = Envoy::builder(&shipped_outbound_config(), chain.callee.port())
        .template(&yaml)
        .jwks_port(chain.sts.port())
        .env(SECRET_ENV, CLIENT_SECRET)
        .start();
    let received = subject_token(json!({}));
    let bearer = format!("Bearer {received}");
    // In: the workload's own token check.
    let inbound = envoy.listener_port("inbound");
    assert_eq!(
        http::get(inbound, "/orders", &[("authorization", &bearer)]).status,
        200
    );
    let foreign = subject_token(json!({"aud": "payments.demo.svc"}));
    assert_eq!(
        http::get(
            inbound,
            "/orders",
            &[("authorization", &format!("Bearer {foreign}"))]
        )
        .status,
        403
    );
    // Out: the same token, exchanged on its way to payments.
    let out = http::get(
        envoy.port(),
        "/charge",
        &[("host", PAYMENTS), ("authorization", &bearer)],
    );
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(chain.sts.exchanges(), 1);
    assert_never_forwarded(&chain.upstream, &received);
    assert_eq!(inbound_upstream.requests().len(), 1);
}

#[test]
fn a_waiting_request_is_answered_when_the_one_that_started_the_exchange_hangs_up() {
    let chain = Chain::start(&shipped_outbound_config(), sts_settings());
    chain.sts.stall(Duration::from_millis(1200));
    let token = subject_token(json!({}));
    // The first request starts the exchange, then its client goes away.
    let mut first = TcpStream::connect(("127.0.0.1", chain.caller.port())).unwrap();
    write!(
        first,
        "GET /charge HTTP/1.1\r\nhost: {PAYMENTS}\r\nauthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    first.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let second = std::thread::scope(|scope| {
        let second = scope.spawn(|| chain.call(&token).status);
        std::thread::sleep(Duration::from_millis(200));
        first.shutdown(std::net::Shutdown::Both).unwrap();
        second.join().unwrap()
    });
    assert_eq!(
        second, 200,
        "the waiting request got the shared exchange's token"
    );
    assert_eq!(chain.sts.exchanges(), 1);
    let mut rest = Vec::new();
    let _ = first.read_to_end(&mut rest);
    assert_eq!(
        chain.upstream.requests().len(),
        1,
        "the request that hung up never went on"
    );
}
