//! What `make run` promises, through Envoy running envoy/envoy.yaml's own plugin
//! configuration in front of the demo's own upstream (examples/demo.rs): a demo
//! token for this service passes, and the upstream's reply shows the `x-user`
//! audgate set from its `sub` and no token; a token from the same issuer for
//! another service gets 403; no token gets 401. The demo program itself: fresh
//! tokens on demand (`--tokens`, `/tokens`), and a one-line refusal, not a panic,
//! when a port it needs is taken. README's `make run` sample is what it prints.
//! The two-hop call through the caller-side Envoy and the demo token service:
//! `two_hops`.

// examples/demo.rs is included as it is built, with its own copies of support's
// http, keys and upstream modules.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../../examples/demo.rs"]
mod program;

mod two_hops;

use crate::support::example_bin;
use crate::support::{envoy_yaml, http, keys, Envoy};
use audgate::config::Config;
use serde_json::Value;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn shipped_config() -> Value {
    serde_json::from_str(&envoy_yaml::plugin_config(&envoy_yaml::template())).unwrap()
}

/// Envoy with envoy/envoy.yaml's plugin configuration before the demo's echo,
/// its `jwks` cluster at the demo issuer (which serves the key set audgate
/// fetches): the Envoy, the echo, the issuer.
fn envoy_before_demo_upstream() -> (
    Envoy,
    program::upstream::Upstream,
    program::upstream::Upstream,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = program::upstream::Upstream::serve_on(listener, program::echo);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = program::upstream::Upstream::serve_on(listener, program::issuer);
    let envoy = Envoy::builder(&shipped_config(), upstream.port())
        .jwks_port(issuer.port())
        .start();
    (envoy, upstream, issuer)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn the_shipped_plugin_configuration_validates() {
    Config::from_json(shipped_config().to_string().as_bytes()).unwrap();
}

#[test]
fn the_demo_tokens_get_200_with_the_identity_shown_403_and_401() {
    let (envoy, upstream, issuer) = envoy_before_demo_upstream();
    let good = bearer(&program::mint(program::AUDIENCE));
    let other = bearer(&program::mint(program::OTHER_AUDIENCE));

    let response = http::get(envoy.port(), "/orders", &[("authorization", &good)]);
    assert_eq!(response.status, 200, "{}", response.body);
    // The reply lists the headers that reached the upstream: the identity
    // audgate set from the token, and no token.
    assert!(
        response.body.contains("\n  x-user: demo-user"),
        "{}",
        response.body
    );
    assert!(
        response
            .body
            .contains("\n  x-token-aud: orders.demo.svc   <- and from its aud\n"),
        "{}",
        response.body
    );
    assert!(
        !response.body.contains("authorization:"),
        "{}",
        response.body
    );
    assert!(response.body.contains("no authorization header"));
    let seen = upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[0].header(program::IDENTITY_HEADER), Some("demo-user"));

    let response = http::get(envoy.port(), "/orders", &[("authorization", &other)]);
    assert_eq!(response.status, 403, "{}", response.body);
    assert!(response
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("audience not allowed"));

    assert_eq!(http::get(envoy.port(), "/orders", &[]).status, 401);
    assert_eq!(upstream.count(), 0);

    // The keys came from the demo issuer, fetched once through the jwks
    // cluster (at the path of remote_jwks.uri), as from an IdP; the admin's
    // stats show the fetch, as `make run`'s commands say.
    let fetched: Vec<String> = issuer.take().into_iter().map(|r| r.path).collect();
    assert_eq!(fetched, ["/.well-known/jwks.json"], "{fetched:?}");
    // audgate adds its counts to Envoy's stats on its next tick (100 ms): wait
    // for them, as `make run`'s reader does by the time they look.
    let fetched_once = |stats: &str| {
        stats.lines().any(|l| {
            l.contains("audgate_jwks_fetches_total")
                && l.contains("result=.=success")
                && l.ends_with(": 1")
        })
    };
    let stats = envoy.admin_until("/stats", fetched_once);
    assert!(fetched_once(&stats), "{stats}");
}

#[test]
fn the_echo_never_shows_a_token_value() {
    let request = program::upstream::Request {
        method: "GET".into(),
        path: "/orders".into(),
        headers: vec![("authorization".into(), "Bearer secret.token.value".into())],
        body: Vec::new(),
    };
    let reply = String::from_utf8(program::echo(&request).body).unwrap();
    assert!(!reply.contains("secret"), "{reply}");
    assert!(reply.contains("authorization: <present"), "{reply}");
}

/// The tokens in the commands the demo prints: (for our audience, for the
/// other). The first is the one every other curl but the second sends.
fn tokens_in(commands: &str) -> (String, String) {
    let tokens: Vec<&str> = commands
        .lines()
        .filter(|l| l.starts_with("curl "))
        .filter_map(|l| l.split("'authorization: Bearer ").nth(1))
        .filter_map(|rest| rest.split('\'').next())
        .collect();
    let [good, other, ref rest @ ..] = tokens[..] else {
        panic!("curl commands with tokens expected:\n{commands}");
    };
    assert_eq!(rest.len(), 2, "the two-hop call and payments directly");
    assert!(rest.iter().all(|t| *t == good), "{commands}");
    (good.to_string(), other.to_string())
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&keys::b64_decode(payload)).unwrap()
}

/// `commands`' tokens were minted between `asked` and `answered` (Unix seconds:
/// Envoy starting afterwards takes a while on a busy machine), live an hour, and
/// `envoy` takes the one for us and refuses the other.
fn assert_fresh_and_working(commands: &str, (asked, answered): (u64, u64), envoy: &Envoy) {
    let (good, other) = tokens_in(commands);
    for token in [&good, &other] {
        let claims = claims(token);
        let iat = claims["iat"].as_u64().unwrap();
        assert!((asked..=answered).contains(&iat), "minted now: {claims}");
        assert_eq!(
            claims["exp"].as_u64(),
            Some(iat + program::TOKEN_LIFETIME_S)
        );
    }
    let get = |token: &str| {
        http::get(
            envoy.port(),
            "/orders",
            &[("authorization", &bearer(token))],
        )
    };
    assert_eq!(get(&good).status, 200);
    assert_eq!(get(&other).status, 403);
    assert!(commands.contains("/tokens"), "says how to get new ones");
}

#[test]
fn demo_tokens_prints_fresh_tokens_that_envoy_takes() {
    let asked = keys::now();
    let output = run_demo(&["--tokens"]);
    let minted = (asked, keys::now());
    assert!(output.status.success(), "{output:?}");
    let (envoy, _upstream, _issuer) = envoy_before_demo_upstream();
    assert_fresh_and_working(&String::from_utf8(output.stdout).unwrap(), minted, &envoy);
}

#[test]
fn the_demo_issuer_serves_fresh_tokens_and_its_jwks() {
    let request = |path: &str| program::upstream::Request {
        method: "GET".into(),
        path: path.into(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let asked = keys::now();
    let tokens = program::issuer(&request("/tokens"));
    let minted = (asked, keys::now());
    assert_eq!(tokens.status, 200);
    let (envoy, _upstream, _issuer) = envoy_before_demo_upstream();
    assert_fresh_and_working(&String::from_utf8(tokens.body).unwrap(), minted, &envoy);

    // The key set, where envoy.yaml's remote_jwks.uri says it is.
    let uri = shipped_config()["providers"][0]["remote_jwks"]["uri"].clone();
    let path = uri
        .as_str()
        .and_then(|uri| uri.strip_prefix("http://127.0.0.1:10002"))
        .expect("remote_jwks.uri on the demo's key server");
    let jwks = program::issuer(&request(path));
    let jwks: Value = serde_json::from_slice(&jwks.body).unwrap();
    assert_eq!(jwks, keys::jwks(&[keys::TestKey::Demo]));
    assert_eq!(program::issuer(&request("/other")).status, 404);
}

/// Runs the demo with `args`, killed if it has not exited within 20 s.
fn run_demo(args: &[&str]) -> Output {
    let mut child = Command::new(example_bin::path("demo"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("demo {args:?} did not exit: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Refused in one line that names the port and what to do, with no panic.
fn assert_one_line_refusal(output: &Output, port: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(port), "{stderr}");
    assert!(
        stderr.contains("make run") && stderr.contains("Ctrl-C"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    assert!(output.stdout.is_empty(), "no commands printed");
}

/// `addr`, bound here. While something else holds it, binding is tried again
/// for up to 10 s: another checkout's test run on the same machine holds these
/// ports for a moment in this very test, and a port it lets go of after this
/// test found it taken would be free when the demo looks. `None` if it stays
/// taken (a running `make run`), which is as good.
fn hold(addr: &str) -> Option<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr) {
            Ok(listener) => return Some(listener),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => return None,
        }
    }
}

#[test]
fn a_taken_port_is_named_in_one_line_without_a_panic() {
    // Held here, or already held by a running `make run`: taken either way.
    let _envoy_port = hold("127.0.0.1:10000");
    let _upstream_port = hold("127.0.0.1:10001");

    // `make run`'s check, before Envoy starts: Envoy's port and the demo's.
    let output = run_demo(&["--check-ports"]);
    assert_one_line_refusal(&output, "127.0.0.1:10001 (the demo upstream)");
    assert!(String::from_utf8_lossy(&output.stderr).contains("127.0.0.1:10000 (Envoy's listener)"));

    // The demo started anyway.
    assert_one_line_refusal(&run_demo(&[]), "127.0.0.1:10001 (the demo upstream)");
}

#[test]
fn make_run_checks_the_ports_before_starting_envoy() {
    let recipe = run_recipe();
    let position = |needle: &str| {
        recipe
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in `make run`: {recipe:#?}"))
    };
    let check = position("$(DEMO) --check-ports");
    assert!(check < position("$(DEMO) &"));
    assert!(check < position("$(ENVOY) -c envoy/outbound.yaml"));
    assert!(check < position("$(ENVOY) -c envoy/envoy.yaml"));
    // A second Envoy must not die on the hot-restart socket of the first.
    assert!(recipe[position("$(ENVOY)")].contains("--disable-hot-restart"));
}

/// The lines of `make run`'s recipe.
fn run_recipe() -> Vec<String> {
    let makefile = std::fs::read_to_string(format!("{ROOT}/Makefile")).unwrap();
    let recipe = makefile.split("\nrun:").nth(1).expect("a run target");
    let lines = recipe.lines().skip(1).take_while(|l| l.starts_with('\t'));
    lines.map(str::to_string).collect()
}

#[test]
fn make_run_starts_the_demo_and_both_envoys_with_the_secret() {
    let recipe = run_recipe();
    let position = |needle: &str| {
        recipe
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in `make run`: {recipe:#?}"))
    };
    let secret = position("export AUDGATE_STS_SECRET='$(DEMO_STS_SECRET)';");
    let demo = position("$(DEMO) & demo=$$!;");
    let outbound = position("$(ENVOY) -c envoy/outbound.yaml");
    let inbound = position("$(ENVOY) -c envoy/envoy.yaml");
    // Exported before any of the three starts, in the one shell that starts them.
    assert!(secret < demo && secret < outbound && secret < inbound);
    for line in &recipe[secret..inbound] {
        assert!(line.ends_with('\\'), "one shell: {recipe:#?}");
    }
    for envoy in [outbound, inbound] {
        assert!(
            recipe[envoy].contains("--disable-hot-restart"),
            "{recipe:#?}"
        );
    }
    // Both background processes are stopped when the foreground Envoy ends.
    let trap = &recipe[position("trap ")];
    assert!(
        trap.contains("kill $$demo $$outbound") && trap.contains("EXIT INT TERM"),
        "{trap}"
    );
    assert!(position("trap ") < inbound);
}

#[test]
fn make_run_keeps_envoys_log_short_and_audgates_lines_in_view() {
    // Both Envoys take $(DEMO_LOG): Envoy's own log at warning, audgate's (the
    // wasm component) at info, so that the demo's commands are not pushed out of
    // view by Envoy's start-up log, and audgate's refusals still show.
    let recipe = run_recipe();
    for config in ["envoy/outbound.yaml", "envoy/envoy.yaml"] {
        let line = recipe
            .iter()
            .find(|l| l.contains(&format!("$(ENVOY) -c {config}")))
            .unwrap_or_else(|| panic!("{config} in `make run`: {recipe:#?}"));
        assert!(line.contains("$(DEMO_LOG)"), "{line}");
    }
    let makefile = std::fs::read_to_string(format!("{ROOT}/Makefile")).unwrap();
    let flags = makefile
        .lines()
        .find_map(|l| l.strip_prefix("DEMO_LOG ?= "))
        .expect("Makefile: DEMO_LOG ?= …");
    assert!(flags.contains("--log-level warning"), "{flags}");
    assert!(flags.contains("--component-log-level wasm:info"), "{flags}");
    // The real Envoy takes the flags with the demo's own configuration (it
    // refuses a component it does not have).
    let output = Command::new(crate::support::envoy::envoy_bin())
        .args(["--mode", "validate", "-c", "envoy/envoy.yaml"])
        .args(flags.split_whitespace())
        .current_dir(ROOT)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).to_string();
    assert!(output.status.success(), "{flags}: {said}");
    // What the demo prints first says the Envoys are ready.
    let commands = program::commands();
    assert!(
        commands
            .trim_start()
            .starts_with("# ==== audgate demo: both Envoys are ready."),
        "{commands}"
    );
}

/// The `port_value`s of an Envoy file.
fn ports_in(yaml: &str) -> Vec<u16> {
    yaml.lines()
        .filter_map(|l| l.split("port_value: ").nth(1))
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .map(|port| port.parse().unwrap())
        .collect()
}

#[test]
fn the_port_check_covers_every_port_of_both_envoys_and_the_demo() {
    let mut expected = ports_in(&envoy_yaml::template());
    expected.extend(ports_in(&envoy_yaml::outbound_template()));
    expected.sort_unstable();
    expected.dedup();
    let mut checked: Vec<u16> = program::PORTS.iter().map(|(port, _)| *port).collect();
    checked.sort_unstable();
    assert_eq!(checked, expected);
    assert_eq!(checked, [9901, 9902, 10000, 10001, 10002, 10003, 10010]);
}

/// The commands of a text, tokens replaced by `TOKEN`.
fn command_lines(text: &str) -> Vec<String> {
    let commands = text
        .lines()
        .filter(|l| l.starts_with("curl ") || l.starts_with("target/release/audgate "));
    commands
        .map(|l| {
            l.split(' ')
                .map(|w| match w.find("eyJ") {
                    Some(at) => format!(
                        "{}TOKEN{}",
                        &w[..at],
                        if w.ends_with('\'') { "'" } else { "" }
                    ),
                    None => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn the_readme_shows_what_make_run_prints() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let sample = readme
        .split("<!-- make run prints -->\n```\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README: a ``` block after <!-- make run prints -->");
    let printed = command_lines(&program::commands());
    assert_eq!(
        printed.len(),
        9,
        "three curls, the key fetch's stats, three CLI commands, two curls for payments: {printed:#?}"
    );
    assert_eq!(command_lines(sample), printed);
    assert!(
        sample.contains("/tokens"),
        "README says where fresh tokens are"
    );
}

#[test]
fn the_readme_shows_the_refusal_when_every_port_is_taken() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let taken: Vec<((u16, &str), std::io::Error)> = program::PORTS
        .iter()
        .map(|&port| (port, std::io::ErrorKind::AddrInUse.into()))
        .collect();
    let refusal = program::in_use(&taken);
    assert!(
        readme.contains(&format!("```\n{refusal}\n```")),
        "README shows:\n{refusal}"
    );
}
