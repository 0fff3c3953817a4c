//! The bundled Envoy container (envoy/Dockerfile, envoy/docker-compose.yaml) and
//! the module's OCI image (envoy/plugin.Dockerfile), checked without a
//! container engine: the container runs the Envoy version `make test` runs, with
//! the very envoy/envoy.yaml the end-to-end tests render, changed in two lines
//! only (the listener and the admin bind 0.0.0.0), and the module where that
//! file names it; compose publishes both on the host's loopback only.
//! The last test lays out a directory as the image's WORKDIR, makes the
//! Dockerfile's own change there, and has Envoy validate the result (which
//! loads the module and runs its configuration).

use crate::support::{envoy, envoy_yaml, manifests, temp};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One Dockerfile instruction: keyword (upper case) and its arguments, with
/// continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// A build stage: its `FROM` image, `AS` name and instructions.
#[derive(Debug)]
struct Stage {
    from: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        let named = self.instructions.iter().filter(|i| i.keyword == keyword);
        named.map(|i| i.args.as_str()).collect()
    }

    fn one(&self, keyword: &str) -> &str {
        let all = self.all(keyword);
        assert_eq!(all.len(), 1, "{keyword} in stage {:?}: {all:?}", self.from);
        all[0]
    }
}

/// The global `ARG`s (before the first `FROM`) and the stages.
fn dockerfile(path: &str) -> (Vec<String>, Vec<Stage>) {
    let text = read(path).replace("\\\n", " ");
    let (mut args, mut stages) = (Vec::new(), Vec::<Stage>::new());
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (keyword, rest) = (keyword.to_ascii_uppercase(), rest.trim().to_string());
        match (keyword.as_str(), stages.last_mut()) {
            ("FROM", _) => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let name = match words.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                    [_] => None,
                    _ => panic!("{path}: FROM {rest}"),
                };
                stages.push(Stage {
                    from: words[0].to_string(),
                    name,
                    instructions: Vec::new(),
                });
            }
            ("ARG", None) => args.push(rest),
            (_, Some(stage)) => stage.instructions.push(Instruction {
                keyword,
                args: rest,
            }),
            (_, None) => panic!("{path}: {keyword} before FROM"),
        }
    }
    (args, stages)
}

/// `COPY [--from=x] src dest` → (from, src, dest).
fn copy_parts(args: &str) -> (Option<&str>, &str, &str) {
    let words: Vec<&str> = args.split_whitespace().collect();
    match words.as_slice() {
        [from, src, dest] if from.starts_with("--from=") => {
            (Some(&from["--from=".len()..]), *src, *dest)
        }
        [src, dest] => (None, *src, *dest),
        _ => panic!("COPY {args}: expected [--from=stage] src dest"),
    }
}

/// A path as a container resolves it: relative to `workdir` unless absolute.
fn in_container(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{}", workdir.trim_end_matches('/'), path)
    }
}

/// The Envoy version `make test` installs (`ENVOY_VERSION ?= …` in the Makefile).
fn pinned_envoy_version() -> String {
    let makefile = read("Makefile");
    let line = makefile
        .lines()
        .find(|l| l.starts_with("ENVOY_VERSION"))
        .expect("ENVOY_VERSION in the Makefile");
    line.split_once("?=").unwrap().1.trim().to_string()
}

/// The module path envoy/envoy.yaml names, relative to Envoy's working directory.
fn module_path_in_envoy_yaml() -> String {
    let marker = envoy_yaml::WASM_MARKER;
    assert!(envoy_yaml::template().contains(marker));
    marker.trim_start_matches("filename:").trim().to_string()
}

/// The `ENVOY_IMAGE` default of envoy/Dockerfile.
fn dockerfile_envoy_image() -> String {
    let (args, _) = dockerfile("envoy/Dockerfile");
    let arg = args.iter().find(|a| a.starts_with("ENVOY_IMAGE="));
    arg.expect("ARG ENVOY_IMAGE=…")["ENVOY_IMAGE=".len()..].to_string()
}

#[test]
fn the_container_runs_the_envoy_version_the_tests_run() {
    let image = format!("envoyproxy/envoy:v{}", pinned_envoy_version());
    assert_eq!(dockerfile_envoy_image(), image);
    let (_, stages) = dockerfile("envoy/Dockerfile");
    assert_eq!(stages.last().unwrap().from, "${ENVOY_IMAGE}");
    // The compose file's default is the same image.
    let compose = compose();
    let arg = &compose["services"]["envoy"]["build"]["args"]["ENVOY_IMAGE"];
    assert_eq!(*arg, Value::from(format!("${{ENVOY_IMAGE:-{image}}}")));
}

#[test]
fn the_container_copies_envoy_yaml_and_the_module_to_where_envoy_yaml_names_it() {
    let (_, stages) = dockerfile("envoy/Dockerfile");
    let [config, runtime] = stages.as_slice() else {
        panic!("envoy/Dockerfile: expected a config stage and the runtime stage");
    };
    // The config stage takes envoy/envoy.yaml from the repository...
    let config_name = config.name.as_deref().expect("config stage named");
    let config_workdir = config.one("WORKDIR");
    let config_copies: Vec<(Option<&str>, &str, &str)> =
        config.all("COPY").into_iter().map(copy_parts).collect();
    assert_eq!(
        config_copies,
        [
            (None, "envoy/envoy.yaml", "envoy/envoy.yaml"),
            (None, "envoy/outbound.yaml", "envoy/outbound.yaml"),
        ]
    );
    let edited = in_container(config_workdir, "envoy/envoy.yaml");
    let edited_outbound = in_container(config_workdir, "envoy/outbound.yaml");
    // ...and the runtime stage copies that file, and the module, under its WORKDIR.
    let workdir = runtime.one("WORKDIR");
    let copies: Vec<(Option<&str>, &str, &str)> =
        runtime.all("COPY").into_iter().map(copy_parts).collect();
    let module = module_path_in_envoy_yaml();
    assert!(
        copies.contains(&(None, module.as_str(), module.as_str())),
        "COPY {module} {module} (envoy.yaml's relative path, under WORKDIR): {copies:?}"
    );
    let from_config: Vec<&(Option<&str>, &str, &str)> = copies
        .iter()
        .filter(|(from, _, _)| *from == Some(config_name))
        .collect();
    let [config_copy, outbound_copy] = from_config.as_slice() else {
        panic!("COPY --from=<config stage> of envoy.yaml and outbound.yaml: {copies:?}");
    };
    assert_eq!(config_copy.1, edited, "the edited envoy/envoy.yaml");
    assert_eq!(
        outbound_copy.1, edited_outbound,
        "the edited envoy/outbound.yaml"
    );
    assert_eq!(
        in_container(workdir, outbound_copy.2),
        in_container(workdir, "envoy/outbound.yaml"),
        "outbound.yaml beside envoy.yaml: its module path resolves the same"
    );
    let config_in_image = in_container(workdir, config_copy.2);
    // Envoy starts with that file, from WORKDIR, so the module path resolves.
    let entrypoint: Vec<String> = serde_json::from_str(runtime.one("ENTRYPOINT")).unwrap();
    let cmd: Vec<String> = serde_json::from_str(runtime.one("CMD")).unwrap();
    assert_eq!(entrypoint, ["/usr/local/bin/envoy"]);
    let c = cmd.iter().position(|a| a == "-c").expect("-c in CMD");
    assert_eq!(in_container(workdir, &cmd[c + 1]), config_in_image);
    assert_eq!(config_in_image, in_container(workdir, "envoy/envoy.yaml"));
}

#[test]
fn compose_builds_the_container_and_mounts_nothing_over_its_config() {
    let compose = compose();
    let envoy = &compose["services"]["envoy"];
    assert_eq!(envoy["build"]["context"], "..");
    assert_eq!(envoy["build"]["dockerfile"], "envoy/Dockerfile");
    assert!(envoy.get("volumes").is_none(), "{envoy}");
    assert!(envoy.get("image").is_none(), "built, not pulled: {envoy}");
    let ports: Vec<&str> = envoy["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // The listener, and the admin (`/stats` from the host), on loopback only:
    // the admin has no authentication.
    assert_eq!(
        ports,
        [
            "127.0.0.1:10000:10000",
            "127.0.0.1:9901:9901",
            "127.0.0.1:10010:10010",
            "127.0.0.1:9902:9902"
        ]
    );
    // The caller's side: the same image with envoy/outbound.yaml, in envoy's
    // network namespace (its payments cluster is envoy's listener on
    // 127.0.0.1:10000, its sts cluster the demo's 127.0.0.1:10003), the
    // secret through the environment its vm_config names.
    let outbound = &compose["services"]["envoy-outbound"];
    assert_eq!(outbound["build"], envoy["build"]);
    assert_eq!(outbound["network_mode"], "service:envoy");
    assert_eq!(
        outbound["command"],
        serde_json::json!(["-c", "envoy/outbound.yaml", "--disable-hot-restart"])
    );
    let secret = outbound["environment"]["AUDGATE_STS_SECRET"]
        .as_str()
        .unwrap();
    assert!(envoy_yaml::outbound_template().contains("host_env_keys: [AUDGATE_STS_SECRET]"));
    assert!(outbound.get("volumes").is_none(), "{outbound}");
    // The demo shares Envoy's network namespace, so envoy.yaml's 127.0.0.1
    // upstream and jwks clusters reach it unchanged.
    let demo = &compose["services"]["demo"];
    assert_eq!(demo["network_mode"], "service:envoy");
    assert_eq!(demo["build"]["dockerfile"], "envoy/demo.Dockerfile");
    assert!(demo.get("volumes").is_none(), "{demo}");
    assert_eq!(
        demo["environment"]["AUDGATE_STS_SECRET"].as_str(),
        Some(secret),
        "the demo's token service checks the secret the caller's side sends"
    );
}

#[test]
fn the_build_context_keeps_what_the_dockerfiles_copy() {
    // .dockerignore: the last pattern matching a path (or a parent) decides.
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let excluded = |path: &str| {
        let mut excluded = false;
        for pattern in &patterns {
            let (keep, pattern) = match pattern.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, *pattern),
            };
            assert!(
                !pattern.contains(['*', '?', '[']),
                "plain paths only: {pattern}"
            );
            if path == pattern || path.starts_with(&format!("{pattern}/")) {
                excluded = !keep;
            }
        }
        excluded
    };
    let module = module_path_in_envoy_yaml();
    for path in [
        module.as_str(),
        "envoy/envoy.yaml",
        "envoy/outbound.yaml",
        "Cargo.toml",
        "src/lib.rs",
    ] {
        assert!(!excluded(path), "{path} excluded by .dockerignore");
    }
    for path in ["target/debug", ".venv/bin/envoy", ".git/HEAD"] {
        assert!(excluded(path), "{path} sent in the build context");
    }
}

#[test]
fn the_plugin_image_holds_the_module_as_plugin_wasm() {
    let (args, stages) = dockerfile("envoy/plugin.Dockerfile");
    assert!(args.is_empty());
    let [stage] = stages.as_slice() else {
        panic!("one stage")
    };
    assert_eq!(stage.from, "scratch");
    assert_eq!(stage.instructions.len(), 1, "{:?}", stage.instructions);
    assert_eq!(
        copy_parts(stage.one("COPY")),
        (None, "audgate.wasm", "./plugin.wasm")
    );
    // `make image` stages the module under that name in the context it builds.
    let makefile = read("Makefile");
    assert!(makefile.contains("cp $(WASM) $(OCI_CONTEXT)/audgate.wasm"));
    assert!(makefile.contains("build -f envoy/plugin.Dockerfile"));
}

#[test]
fn envoy_validates_the_container_config_in_the_container_layout() {
    let original = envoy_yaml::template();
    let dir = temp::dir("container");
    let workdir = dir.join("audgate");
    std::fs::create_dir_all(workdir.join("envoy")).unwrap();
    std::fs::write(workdir.join("envoy/envoy.yaml"), &original).unwrap();
    let original_outbound = envoy_yaml::outbound_template();
    std::fs::write(workdir.join("envoy/outbound.yaml"), &original_outbound).unwrap();

    // The config stage's RUN, as the Dockerfile has it, on the copied files.
    let (_, stages) = dockerfile("envoy/Dockerfile");
    let run = stages[0].one("RUN");
    let status = Command::new("sh")
        .args(["-c", run])
        .current_dir(&workdir)
        .status()
        .unwrap();
    assert!(status.success(), "RUN {run}: {status}");
    let edited = std::fs::read_to_string(workdir.join("envoy/envoy.yaml")).unwrap();

    // Exactly two lines of each file differ: the listener's address and the admin's.
    assert_only_addresses_opened(&original, &edited, 10000, 9901);
    let edited_outbound = std::fs::read_to_string(workdir.join("envoy/outbound.yaml")).unwrap();
    assert_only_addresses_opened(&original_outbound, &edited_outbound, 10010, 9902);
    // Only the listener is EXPOSEd: `docker run -P` must not publish the admin.
    assert_eq!(stages[1].one("EXPOSE"), "10000");
    // The plugin configuration is untouched.
    assert_eq!(
        envoy_yaml::plugin_config(&edited),
        envoy_yaml::plugin_config(&original)
    );

    // The module where envoy.yaml names it, relative to the WORKDIR.
    let module = workdir.join(module_path_in_envoy_yaml());
    std::fs::create_dir_all(module.parent().unwrap()).unwrap();
    std::fs::copy(envoy::wasm_path(), &module).unwrap();

    // `envoy --mode validate` builds every listener and filter (loading the
    // module and running its on_configure) without binding anything; the
    // caller's side with the secret its compose service is given.
    validates(&workdir, "envoy/envoy.yaml", &[]);
    validates(
        &workdir,
        "envoy/outbound.yaml",
        &[("AUDGATE_STS_SECRET", "demo-only-secret-not-for-production")],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `edited` is `original` with the listener's (`listener` port) and the admin's
/// (`admin` port) addresses opened to 0.0.0.0, and nothing else changed.
fn assert_only_addresses_opened(original: &str, edited: &str, listener: u16, admin: u16) {
    let changed: Vec<(&str, &str)> = original
        .lines()
        .zip(edited.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(original.lines().count(), edited.lines().count());
    let listener_line = |address: &str| {
        format!(
            "      socket_address: {{ address: {address}, port_value: {listener} }}  # listener"
        )
    };
    let admin_line = |address: &str| {
        format!("    socket_address: {{ address: {address}, port_value: {admin} }}  # admin")
    };
    let wanted = [
        (listener_line("127.0.0.1"), listener_line("0.0.0.0")),
        (admin_line("127.0.0.1"), admin_line("0.0.0.0")),
    ];
    let wanted: Vec<(&str, &str)> = wanted
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(changed, wanted);
}

/// `envoy --mode validate -c file` succeeds in `workdir` with `env`.
fn validates(workdir: &Path, file: &str, env: &[(&str, &str)]) {
    let output = Command::new(envoy::envoy_bin())
        .args(["--mode", "validate", "-c", file])
        .envs(env.iter().copied())
        .current_dir(workdir)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "envoy --mode validate {file}:\n{log}"
    );
    assert!(log.contains(&format!("configuration '{file}' OK")), "{log}");
}

fn compose() -> Value {
    let path = format!("{ROOT}/envoy/docker-compose.yaml");
    let documents = manifests::parse_file(Path::new(&path));
    assert_eq!(documents.len(), 1);
    documents[0].value.clone()
}
