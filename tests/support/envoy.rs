//! One Envoy process per test, running `envoy/envoy.yaml` (rendered: free ports,
//! the built module, the test's plugin configuration). Ready when the admin
//! `/ready` answers 200; killed on drop. The temp dir (config, log) is removed on
//! drop unless the test is panicking, when its path and the log tail are printed.
//!
//! ```ignore
//! let upstream = Upstream::start();
//! let envoy = Envoy::start(&config, upstream.port());
//! let envoy = Envoy::builder(&config, upstream.port()).concurrency(2).jwks_port(p).start();
//! let log = Envoy::try_start(&bad_config, upstream.port()).unwrap_err();
//! assert!(log.contains("audiences"));
//! ```

use super::envoy_yaml::{self, Substitutions};
use super::http::{self, Response};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long Envoy may take to become ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running Envoy; see the module docs.
pub struct Envoy {
    child: Child,
    dir: PathBuf,
    port: u16,
    admin_port: u16,
}

/// Options for starting Envoy; from `Envoy::builder`.
#[derive(Clone, Debug)]
pub struct EnvoyBuilder {
    plugin_config: String,
    upstream_port: u16,
    jwks_port: u16,
    concurrency: u32,
    template: Option<String>,
    env: Vec<(String, String)>,
    listener_port: u16,
}

impl Envoy {
    /// Starts Envoy with `--concurrency 1`; panics (with the log) if it does not get ready.
    pub fn start(plugin_config: &serde_json::Value, upstream_port: u16) -> Envoy {
        Envoy::builder(plugin_config, upstream_port).start()
    }

    /// Starts Envoy; `Err(log)` if Envoy exits during start-up (a refused config).
    pub fn try_start(
        plugin_config: &serde_json::Value,
        upstream_port: u16,
    ) -> Result<Envoy, String> {
        Envoy::builder(plugin_config, upstream_port).try_start()
    }

    /// Options: concurrency (default 1), the jwks cluster's port, a verbatim config.
    pub fn builder(plugin_config: &serde_json::Value, upstream_port: u16) -> EnvoyBuilder {
        EnvoyBuilder {
            plugin_config: serde_json::to_string_pretty(plugin_config).unwrap(),
            upstream_port,
            jwks_port: 1, // nothing listens there unless a test says so
            concurrency: 1,
            template: None,
            env: Vec::new(),
            listener_port: 0,
        }
    }

    /// Options for envoy/outbound.yaml, the caller's side: its `payments`
    /// cluster points at `callee_port`, its `sts` cluster at `sts_port`.
    pub fn outbound(
        plugin_config: &serde_json::Value,
        callee_port: u16,
        sts_port: u16,
    ) -> EnvoyBuilder {
        Envoy::builder(plugin_config, callee_port)
            .template(&envoy_yaml::outbound_template())
            .jwks_port(sts_port)
    }

    /// The `audgate` listener's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the listener `name` (a template's other listeners).
    pub fn listener_port(&self, name: &str) -> u16 {
        named_listener_port(self.admin_port, name)
            .unwrap_or_else(|| panic!("no listener {name} with a port"))
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The Envoy process id (`.venv/bin/envoy` execs Envoy, so it is Envoy's own).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far (`--log-path`), followed by anything Envoy wrote to stdout/stderr.
    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    /// Waits up to `limit` for the log to contain `needle`; whether it did.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET path` on the admin interface, e.g. `/stats?filter=audgate`.
    pub fn admin(&self, path: &str) -> Response {
        http::get(self.admin_port, path, &[])
    }

    /// `GET path` on the admin interface until `ready(body)` holds or 10 s pass;
    /// the last body. audgate counts in its VM's memory and adds the counts to
    /// Envoy's stats on each root tick (100 ms), so stats trail requests briefly.
    #[allow(dead_code)]
    pub fn admin_until(&self, path: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = self.admin(path).body;
            if ready(&body) || Instant::now() >= deadline {
                return body;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The temp dir holding `envoy.yaml` and `envoy.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl EnvoyBuilder {
    pub fn concurrency(mut self, workers: u32) -> Self {
        self.concurrency = workers;
        self
    }

    /// Where the `jwks` cluster points (default: port 1, nothing).
    pub fn jwks_port(mut self, port: u16) -> Self {
        self.jwks_port = port;
        self
    }

    /// The plugin configuration as this exact text (for configs that are not JSON).
    pub fn raw_config(mut self, text: &str) -> Self {
        self.plugin_config = text.to_string();
        self
    }

    /// Listens on `port` (0, the default: any free port). For a URL the
    /// configuration must name before Envoy starts.
    pub fn listen_on(mut self, port: u16) -> Self {
        self.listener_port = port;
        self
    }

    /// Sets `name=value` in Envoy's environment (a VM's `host_env_keys` copy it).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Render this envoy.yaml text instead of `envoy/envoy.yaml` (it must keep
    /// the markers `envoy_yaml::render` replaces), e.g. with the wasm filter's
    /// `name`, `root_id` and `vm_id` as Istio sets them.
    pub fn template(mut self, yaml: &str) -> Self {
        self.template = Some(yaml.to_string());
        self
    }

    /// Starts Envoy; panics with the log if it exits or is not ready in time.
    pub fn start(self) -> Envoy {
        self.try_start()
            .unwrap_or_else(|log| panic!("envoy exited during start-up:\n{}", tail(&log)))
    }

    /// Starts Envoy; `Err(log)` if it exits during start-up. Panics on timeout.
    pub fn try_start(self) -> Result<Envoy, String> {
        let dir = super::temp::dir("e2e");
        let template = self.template.unwrap_or_else(envoy_yaml::template);
        let yaml = envoy_yaml::render(
            &template,
            &Substitutions {
                listener_port: self.listener_port,
                admin_port: 0,
                upstream_port: self.upstream_port,
                jwks_port: self.jwks_port,
                wasm_path: wasm_path(),
                plugin_config: self.plugin_config,
            },
        );
        std::fs::write(dir.join("envoy.yaml"), yaml).unwrap();
        let child = spawn(&dir, self.concurrency, &self.env);
        let mut envoy = Envoy {
            child,
            dir,
            port: 0,
            admin_port: 0,
        };
        envoy.wait_ready()?;
        Ok(envoy)
    }
}

impl Envoy {
    /// Polls until `/ready` is 200 and the listener has its port, or Envoy exits.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("{}\n[envoy exited: {status}]", self.log()));
            }
            if self.admin_port == 0 {
                self.admin_port = read_admin_port(&self.dir).unwrap_or(0);
            } else if self.port == 0 && is_ready(self.admin_port) {
                self.port = listener_port(self.admin_port).unwrap_or(0);
            }
            if self.port != 0 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let log = self.log();
        panic!(
            "envoy not ready in {START_TIMEOUT:?}; log tail:\n{}",
            tail(&log)
        );
    }
}

/// Lines of an Envoy log that show the wasm VM failing: a panic in the module, a
/// trap, or a VM or plugin that failed. Every end-to-end test checks its Envoy's
/// log for them when the Envoy is dropped.
pub fn vm_failures(log: &str) -> Vec<&str> {
    const SIGNS: [&str; 6] = [
        "panicked at",
        "RuntimeError",
        "Uncaught",
        "Wasm VM failed",
        "wasm trap",
        "Plugin configured to fail",
    ];
    log.lines()
        .filter(|line| SIGNS.iter().any(|sign| line.contains(sign)))
        .collect()
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Only an Envoy that got ready is checked: one that refused its
        // configuration (try_start's Err) logs the VM failure by design.
        if !std::thread::panicking() && self.port != 0 {
            let log = self.log();
            let failures = vm_failures(&log);
            if !failures.is_empty() {
                panic!(
                    "the wasm VM failed (log kept in {}):\n{}",
                    self.dir.display(),
                    failures.join("\n")
                );
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "envoy log kept in {}; tail:\n{}",
                self.dir.display(),
                tail(&self.log())
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Cargo's target folder: `CARGO_TARGET_DIR` if that is set (relative to the
/// crate), else the crate's `target`.
fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or(manifest.join("target"), PathBuf::from);
    manifest.join(target)
}

/// The built module (`make build`), under `CARGO_TARGET_DIR` if that is set;
/// `AUDGATE_WASM` names another module (e.g. one after `wasm-opt`).
pub fn wasm_path() -> PathBuf {
    if let Some(path) = std::env::var_os("AUDGATE_WASM") {
        return PathBuf::from(path);
    }
    let path = target_dir().join("wasm32-wasip1/release/audgate.wasm");
    assert!(
        path.exists(),
        "{} missing: run `make build` first",
        path.display()
    );
    path
}

/// `.venv/bin/envoy` of this crate (`make envoy`); `AUDGATE_ENVOY` names another
/// Envoy binary (`make test-compat` runs the suite against the oldest pip Envoy).
/// Each binary used is noted in `target/tested/envoys/`, from which `make test`
/// writes the README's table of what it ran (tests/tested_versions.py).
pub fn envoy_bin() -> PathBuf {
    let path = match std::env::var_os("AUDGATE_ENVOY") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.exists(),
                "AUDGATE_ENVOY={} does not exist",
                path.display()
            );
            path
        }
        None => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/envoy");
            assert!(
                path.exists(),
                "{} missing: run `make envoy` first",
                path.display()
            );
            path
        }
    };
    note_tested(&path);
    path
}

/// Notes `envoy` as used by this run in `target/tested/envoys/`, one file per
/// binary holding its path (best effort: the table is written from these).
fn note_tested(envoy: &Path) {
    let dir = target_dir().join("tested/envoys");
    let absolute = envoy.canonicalize().unwrap_or_else(|_| envoy.to_path_buf());
    let text = absolute.display().to_string();
    let name: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let file = dir.join(name);
    if !file.exists() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(&file, &text);
    }
}

fn spawn(dir: &Path, concurrency: u32, env: &[(String, String)]) -> Child {
    let output = File::create(dir.join("stdout.log")).unwrap();
    Command::new(envoy_bin())
        .arg("-c")
        .arg(dir.join("envoy.yaml"))
        .arg("--admin-address-path")
        .arg(dir.join("admin-address"))
        .arg("--use-dynamic-base-id")
        .args([
            "--log-level",
            "info",
            // flush the log file often, so tests can read it while Envoy runs
            "--file-flush-interval-msec",
            "50",
            "--concurrency",
            &concurrency.to_string(),
        ])
        .args(flush_min_size_args())
        .arg("--log-path")
        .arg(dir.join("envoy.log"))
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn()
        .expect("spawn envoy")
}

/// `--file-flush-min-size-kb 1` where Envoy has that option (1.40 does, 1.36
/// does not: there the 50 ms flush interval alone keeps the log current).
fn flush_min_size_args() -> &'static [&'static str] {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    let supported = *SUPPORTED.get_or_init(|| {
        let help = Command::new(envoy_bin()).arg("--help").output();
        help.is_ok_and(|out| {
            let text = [out.stdout, out.stderr].concat();
            String::from_utf8_lossy(&text).contains("--file-flush-min-size-kb")
        })
    });
    if supported {
        &["--file-flush-min-size-kb", "1"]
    } else {
        &[]
    }
}

/// The admin port, once Envoy has written `host:port` to the address file.
fn read_admin_port(dir: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(dir.join("admin-address")).ok()?;
    text.trim().rsplit(':').next()?.parse().ok()
}

fn is_ready(admin_port: u16) -> bool {
    http::try_request(admin_port, "GET", "/ready", &[], b"").is_ok_and(|r| r.status == 200)
}

/// The `audgate` listener's bound port, from `/listeners?format=json`.
fn listener_port(admin_port: u16) -> Option<u16> {
    named_listener_port(admin_port, "audgate")
}

fn named_listener_port(admin_port: u16, name: &str) -> Option<u16> {
    let response = http::try_request(admin_port, "GET", "/listeners?format=json", &[], b"").ok()?;
    let listeners: serde_json::Value = serde_json::from_str(&response.body).ok()?;
    let listener = listeners["listener_statuses"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == name)?;
    let port = listener["local_address"]["socket_address"]["port_value"].as_u64()?;
    u16::try_from(port).ok().filter(|p| *p != 0)
}

fn read_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("envoy.log")).unwrap_or_default();
    let output = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
    if output.trim().is_empty() {
        log
    } else {
        format!("{log}\n[stdout/stderr]\n{output}")
    }
}

/// The last 60 lines.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
