//! Renders `envoy/envoy.yaml` for a test: ports, the module's path and the plugin
//! configuration are replaced textually; everything else (filter chain, vm_config,
//! clusters) stays as the file has it. Each marker must occur exactly once, or
//! rendering panics, so a drifted envoy.yaml fails loudly.
//!
//! ```ignore
//! let yaml = envoy_yaml::render(&envoy_yaml::template(), &Substitutions {
//!     listener_port: 0, admin_port: 0, upstream_port: 4711, jwks_port: 4712,
//!     wasm_path: "/abs/audgate.wasm".into(), plugin_config: config.to_string(),
//! });
//! ```

use std::path::PathBuf;

/// The lines of envoy.yaml that rendering rewrites.
pub const LISTENER_MARKER: &str = "port_value: 10000";
pub const UPSTREAM_MARKER: &str = "port_value: 10001";
pub const JWKS_MARKER: &str = "port_value: 10002";
pub const ADMIN_MARKER: &str = "port_value: 9901";

/// The port lines of one Envoy file that rendering rewrites.
#[derive(Clone, Copy, Debug)]
pub struct Markers {
    pub listener: &'static str,
    pub upstream: &'static str,
    /// The third cluster: `jwks` in envoy.yaml, `sts` in outbound.yaml.
    pub jwks: &'static str,
    pub admin: &'static str,
}

/// envoy/envoy.yaml: the callee's side.
pub const INBOUND: Markers = Markers {
    listener: LISTENER_MARKER,
    upstream: UPSTREAM_MARKER,
    jwks: JWKS_MARKER,
    admin: ADMIN_MARKER,
};

/// envoy/outbound.yaml: the caller's side (its upstream is the callee, its
/// third cluster the token service).
pub const OUTBOUND: Markers = Markers {
    listener: "port_value: 10010",
    upstream: "port_value: 10000",
    jwks: "port_value: 10003",
    admin: "port_value: 9902",
};

impl Markers {
    /// The markers of `template`: outbound.yaml's when it has its listener line.
    pub fn of(template: &str) -> Markers {
        if template.contains(OUTBOUND.listener) {
            OUTBOUND
        } else {
            INBOUND
        }
    }
}
pub const WASM_MARKER: &str = "filename: target/wasm32-wasip1/release/audgate.wasm";
/// The plugin configuration: a block scalar opened by this line.
pub const CONFIG_MARKER: &str = "value: |";

/// What `render` puts in place of the markers.
#[derive(Clone, Debug)]
pub struct Substitutions {
    /// The `audgate` listener's port (0: any free port).
    pub listener_port: u16,
    /// The admin port (0: any free port).
    pub admin_port: u16,
    /// The `upstream` cluster's endpoint port.
    pub upstream_port: u16,
    /// The `jwks` cluster's endpoint port.
    pub jwks_port: u16,
    /// The wasm module, absolute.
    pub wasm_path: PathBuf,
    /// The plugin configuration, verbatim (JSON or deliberately not).
    pub plugin_config: String,
}

/// A `STATIC` cluster `name` for an endpoint on 127.0.0.1:`port`, as a list
/// item of `static_resources.clusters` (its lines indented as the files' own),
/// for a test to add to a template.
pub fn static_cluster(name: &str, port: u16) -> String {
    format!(
        "  - name: {name}\n    type: STATIC\n    connect_timeout: 1s\n    load_assignment:\n      cluster_name: {name}\n      endpoints:\n      - lb_endpoints:\n        - endpoint:\n            address:\n              socket_address: {{ address: 127.0.0.1, port_value: {port} }}\n"
    )
}

/// `template` with `clusters` (from [`static_cluster`]) first in its cluster list.
pub fn with_clusters(template: &str, clusters: &[String]) -> String {
    const LIST: &str = "\n  clusters:\n";
    assert_eq!(template.matches(LIST).count(), 1, "one cluster list");
    template.replacen(LIST, &format!("{LIST}{}", clusters.concat()), 1)
}

/// `envoy/envoy.yaml` of this crate.
pub fn template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/envoy.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// `template` (envoy/envoy.yaml's) with the VM's environment copying `names`
/// from Envoy's own (`host_env_keys`), as a secret reaches the module.
pub fn with_host_env(template: &str, names: &[&str]) -> String {
    let code = "                      filename: target/wasm32-wasip1/release/audgate.wasm\n";
    assert_eq!(template.matches(code).count(), 1, "one wasm filter");
    template.replace(
        code,
        &format!(
            "{code}                  environment_variables:\n                    host_env_keys: [{}]\n",
            names.join(", ")
        ),
    )
}

/// envoy/outbound.yaml of this crate.
pub fn outbound_template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/outbound.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// `template` with every substitution made.
pub fn render(template: &str, s: &Substitutions) -> String {
    let markers = Markers::of(template);
    let wasm = format!("filename: {}", quoted(&s.wasm_path.to_string_lossy()));
    let mut yaml = template.to_string();
    // The listener first: outbound.yaml's upstream marker is envoy.yaml's listener's.
    yaml = replace_once(
        &yaml,
        markers.listener,
        &format!("port_value: {}", s.listener_port),
    );
    yaml = replace_once(
        &yaml,
        markers.upstream,
        &format!("port_value: {}", s.upstream_port),
    );
    yaml = replace_once(&yaml, markers.jwks, &format!("port_value: {}", s.jwks_port));
    yaml = replace_once(
        &yaml,
        markers.admin,
        &format!("port_value: {}", s.admin_port),
    );
    yaml = replace_once(&yaml, WASM_MARKER, &wasm);
    replace_config(&yaml, &s.plugin_config)
}

/// The plugin configuration embedded in `template`, without its indentation.
pub fn plugin_config(template: &str) -> String {
    let (start, indent) = config_line(template);
    let lines: Vec<&str> = template.lines().collect();
    let block = block_end(&lines, start, indent);
    let body: Vec<&str> = lines[start + 1..block]
        .iter()
        .map(|l| l.trim_end())
        .collect();
    let strip = body
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    let dedented: Vec<&str> = body.iter().map(|l| l.get(strip..).unwrap_or("")).collect();
    dedented.join("\n").trim_end().to_string() + "\n"
}

fn replace_once(text: &str, marker: &str, with: &str) -> String {
    let count = text.matches(marker).count();
    assert_eq!(
        count, 1,
        "envoy.yaml: expected {marker:?} exactly once, found {count}"
    );
    text.replacen(marker, with, 1)
}

/// Replaces the `value: |` line and its block with the new configuration.
fn replace_config(yaml: &str, config: &str) -> String {
    let (start, indent) = config_line(yaml);
    let lines: Vec<&str> = yaml.lines().collect();
    let end = block_end(&lines, start, indent);
    let pad = " ".repeat(indent);
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    if block_safe(config) {
        // `|-`: the value is the text exactly, without a final newline.
        out.push(format!("{pad}value: |-"));
        out.extend(
            config
                .lines()
                .map(|l| format!("{pad}  {l}").trim_end().to_string()),
        );
    } else {
        out.push(format!("{pad}value: {}", quoted(config)));
    }
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    out.join("\n") + "\n"
}

/// The index and indentation of the one `value: |` line (`|-` once rendered).
fn config_line(yaml: &str) -> (usize, usize) {
    let opens = |l: &str| l.trim() == CONFIG_MARKER || l.trim() == "value: |-";
    let found: Vec<(usize, &str)> = yaml.lines().enumerate().filter(|(_, l)| opens(l)).collect();
    assert_eq!(
        found.len(),
        1,
        "envoy.yaml: expected {CONFIG_MARKER:?} exactly once"
    );
    (found[0].0, indent_of(found[0].1))
}

/// The first line after `start` that is not part of its block scalar.
fn block_end(lines: &[&str], start: usize, indent: usize) -> usize {
    let inside = |l: &&&str| l.trim().is_empty() || indent_of(l) > indent;
    let len = lines[start + 1..].iter().take_while(inside).count();
    // Trailing blank lines belong to what follows.
    let blank_tail = lines[start + 1..start + 1 + len].iter().rev();
    start + 1 + len - blank_tail.take_while(|l| l.trim().is_empty()).count()
}

/// Whether a literal block scalar reproduces `text` exactly.
fn block_safe(text: &str) -> bool {
    let printable = text.chars().all(|c| c == '\n' || (' '..='~').contains(&c));
    let lines_ok = text.lines().all(|l| l == l.trim_end());
    let ends_ok = !text.starts_with([' ', '\n']) && !text.ends_with([' ', '\n']);
    !text.is_empty() && printable && lines_ok && ends_ok && !text.contains("\n\n")
}

/// A YAML double-quoted scalar holding `text` exactly: everything but printable
/// ASCII is escaped, so YAML's line-break folding (NEL, LS, PS) cannot apply.
fn quoted(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => out.extend(['\\', c]),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}
