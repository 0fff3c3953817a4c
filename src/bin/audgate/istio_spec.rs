//! An Istio extension resource (`WasmPlugin`, or the newer `TrafficExtension`'s
//! `wasm`) checked against what its CRD schema in istio/api says (`url`,
//! `sha256`, `selector` / `targetRefs`, `match`, `phase`, `priority`,
//! `failStrategy`, `vmConfig`, field names) and against what audgate needs of
//! it (phase AUTHN, FAIL_CLOSE, a pinned module, SERVER or CLIENT as the
//! configuration's direction wants).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::istio_enum::{
    closest, enum_value, IstioEnum, EXTENSION_PHASE, FAIL_STRATEGY, IMAGE_PULL_POLICY, MODE, PHASE,
    PLUGIN_TYPE, VALUE_FROM,
};
use crate::workload_vm::{EnvSource, EnvVar, Placement, Selects, VmEnv, ROOT_NAMESPACE};

/// The only `apiVersion` Istio serves its extension resources as.
pub const API_VERSION: &str = "extensions.istio.io/v1alpha1";

/// The digest the shipped manifests hold until `make image`'s is put in.
const PLACEHOLDER_DIGEST: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const RESOURCE_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const PLACEMENT_FIELDS: &[&str] = &["selector", "targetRefs", "phase", "priority", "match"];
const MODULE_FIELDS: &[&str] = &[
    "url",
    "sha256",
    "imagePullPolicy",
    "imagePullSecret",
    "verificationKey",
    "pluginConfig",
    "pluginName",
    "failStrategy",
    "vmConfig",
    "type",
];
/// A WasmPlugin's own field besides the placement and module ones (hidden in
/// Istio's docs, still in its schema).
const WASM_PLUGIN_EXTRA: &[&str] = &["targetRef"];
const EXTENSION_FIELDS: &[&str] = &["wasm", "lua"];

/// The kinds of workload a `targetRefs` entry can name, by group.
const TARGET_KINDS: &[(&str, &str)] = &[
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("", "Service"),
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
];

/// Which extension resource, and so where its fields are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `WasmPlugin`: every field in `spec`.
    WasmPlugin,
    /// `TrafficExtension`: the placement in `spec`, the module in `spec.wasm`.
    TrafficExtension,
}

impl Kind {
    /// The resource's kind as written.
    pub fn name(self) -> &'static str {
        match self {
            Kind::WasmPlugin => "WasmPlugin",
            Kind::TrafficExtension => "TrafficExtension",
        }
    }

    /// Where the module's fields are.
    pub fn module_at(self) -> &'static str {
        match self {
            Kind::WasmPlugin => "spec",
            Kind::TrafficExtension => "spec.wasm",
        }
    }
}

/// What the check of a resource found.
#[derive(Default)]
pub struct Report {
    /// What Istio refuses, or what breaks audgate.
    pub errors: Vec<String>,
    /// What works but is probably not meant.
    pub warnings: Vec<String>,
    /// What the user should know (where the plugin applies).
    pub notes: Vec<String>,
    /// Where it applies and what it runs there.
    pub placement: Option<Placement>,
    /// The environment its VM is given.
    pub vm_env: Option<VmEnv>,
}

/// Checks the resource as `written` (a `kind` resource), whose plugin
/// configuration is `plugin`.
pub fn check(written: &Value, kind: Kind, plugin: Option<&Value>) -> Report {
    let mut report = Report::default();
    let resource = &without_nulls(written);
    let namespace = resource
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    let spec_value = resource.get("spec").unwrap_or(&Value::Null);
    let context = Context {
        kind,
        namespace: &namespace,
        selects: ["selector", "targetRef", "targetRefs"]
            .iter()
            .any(|field| spec_value.get(field).is_some()),
    };
    unknown_fields(resource, "", RESOURCE_FIELDS, &context, &mut report.errors);
    match resource.get("apiVersion").and_then(Value::as_str) {
        Some(API_VERSION) => {}
        written => report.errors.push(format!(
            "apiVersion: {}: Istio serves {} only as {API_VERSION} (kubectl would say no \
             matches for the kind); write apiVersion: {API_VERSION}",
            written.unwrap_or("not set"),
            kind.name()
        )),
    }
    if resource
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none()
    {
        report
            .errors
            .push("metadata.name: missing: Kubernetes needs a name for the resource".into());
    }
    if written
        .pointer("/spec/selector")
        .is_some_and(Value::is_null)
    {
        report.warnings.push(format!(
            "spec.selector: empty: Kubernetes drops an empty field, and the plugin then applies \
             to {}; give matchLabels, or leave selector out",
            context.everywhere()
        ));
    }
    let Some(spec) = spec_value.as_object() else {
        report.errors.push(format!(
            "spec: missing or not a mapping: a {} needs one",
            kind.name()
        ));
        return report;
    };
    let module = match kind {
        Kind::WasmPlugin => {
            let known = [PLACEMENT_FIELDS, MODULE_FIELDS, WASM_PLUGIN_EXTRA].concat();
            unknown_fields(spec_value, "spec", &known, &context, &mut report.errors);
            Some(spec)
        }
        Kind::TrafficExtension => {
            let known = [PLACEMENT_FIELDS, EXTENSION_FIELDS].concat();
            unknown_fields(spec_value, "spec", &known, &context, &mut report.errors);
            let module = extension_module(spec, &mut report);
            if let Some(wasm) = spec.get("wasm") {
                unknown_fields(
                    wasm,
                    "spec.wasm",
                    MODULE_FIELDS,
                    &context,
                    &mut report.errors,
                );
            }
            module
        }
    };
    let selects = placement_fields(spec, kind, plugin, &namespace, &mut report);
    let Some(module) = module else {
        return report;
    };
    let (module_id, vm_env) = module_fields(module, kind, &mut report);
    // A refused vmConfig gives no environment to compare with others.
    if let (Some(selects), Some(module), Some(env)) = (selects, module_id, &vm_env) {
        report.placement = Some(Placement {
            namespace,
            selects,
            module,
            env: env.vars.clone(),
        });
    }
    report.vm_env = vm_env;
    report
}

/// A TrafficExtension's `wasm`, if it has one (exactly one of `wasm` and `lua`).
fn extension_module<'s>(
    spec: &'s Map<String, Value>,
    report: &mut Report,
) -> Option<&'s Map<String, Value>> {
    match (spec.get("wasm"), spec.get("lua")) {
        (Some(wasm), None) => {
            let module = wasm.as_object();
            if module.is_none() {
                report
                    .errors
                    .push("spec.wasm: must be a mapping (url, sha256, pluginConfig, …)".into());
            }
            module
        }
        (None, Some(_)) => {
            report.errors.push(
                "spec.lua: a Lua extension, not audgate's Wasm module: nothing here for audgate"
                    .into(),
            );
            None
        }
        (Some(_), Some(_)) => {
            report.errors.push(
                "spec: both wasm and lua: exactly one of them must be set (Istio refuses the resource)"
                    .into(),
            );
            None
        }
        (None, None) => {
            report.errors.push(
                "spec.wasm: missing: audgate's TrafficExtension needs wasm: {url, sha256, pluginConfig}"
                    .into(),
            );
            None
        }
    }
}

/// What an unknown field's message needs to know of the resource.
struct Context<'r> {
    kind: Kind,
    namespace: &'r str,
    /// Whether `selector` or `targetRefs` is given.
    selects: bool,
}

impl Context<'_> {
    /// Where a plugin without a selector applies.
    fn everywhere(&self) -> String {
        if self.namespace == ROOT_NAMESPACE {
            "every workload of the mesh (istio-system is Istio's root namespace)".to_owned()
        } else {
            format!("every workload in namespace {}", self.namespace)
        }
    }
}

/// Field names at `at` that the schema does not know: an error each, with the
/// field probably meant.
fn unknown_fields(
    object: &Value,
    at: &str,
    known: &[&str],
    context: &Context,
    errors: &mut Vec<String>,
) {
    let Some(object) = object.as_object() else {
        return;
    };
    for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
        let field = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        let meant = closest(key, known);
        let misplaced = context.kind == Kind::TrafficExtension
            && at == "spec"
            && MODULE_FIELDS.contains(&key.as_str());
        let hint = if misplaced {
            format!("; it belongs in spec.wasm: spec.wasm.{key}")
        } else {
            meant.map_or(String::new(), |field| format!("; did you mean {field}?"))
        };
        let consequence = match meant {
            Some("selector" | "targetRefs" | "targetRef") if !context.selects => {
                format!(
                    "; without it the plugin applies to {}",
                    context.everywhere()
                )
            }
            _ => String::new(),
        };
        errors.push(format!(
            "{field}: {} has no such field (kubectl refuses it, and a tool that drops unknown \
             fields applies the rest without it){hint}{consequence}",
            context.kind.name()
        ));
    }
}

/// `value` without the fields whose value is null, as the API server stores a
/// resource (a field left empty, `sha256:`, is as if absent); the plugin
/// configuration is kept as written.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, child)| !child.is_null())
                .map(|(key, child)| {
                    let child = if key == "pluginConfig" {
                        child.clone()
                    } else {
                        without_nulls(child)
                    };
                    (key.clone(), child)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// `selector` / `targetRefs`, `match`, `phase` and `priority`; the workloads
/// selected, unless what selects them is refused.
fn placement_fields(
    spec: &Map<String, Value>,
    kind: Kind,
    plugin: Option<&Value>,
    namespace: &str,
    report: &mut Report,
) -> Option<Selects> {
    let errors = &mut report.errors;
    let phase_enum: &IstioEnum = match kind {
        Kind::WasmPlugin => &PHASE,
        Kind::TrafficExtension => &EXTENSION_PHASE,
    };
    let phase = enum_value(spec, "spec", phase_enum, errors);
    if let Some(warning) = phase_warning(phase.as_deref(), spec.contains_key("phase")) {
        report.warnings.push(warning);
    }
    if let Some(priority) = spec.get("priority") {
        if !priority.is_null()
            && priority
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .is_none()
        {
            report.errors.push(format!(
                "spec.priority: must be a whole number (a 32-bit integer), not {priority}"
            ));
        }
    }
    let exchanges = plugin.is_some_and(|config| config.get("exchange").is_some());
    let verifies = plugin
        .and_then(|config| config.get("providers"))
        .and_then(Value::as_array)
        .is_some_and(|providers| !providers.is_empty());
    match_field(spec.get("match"), exchanges, verifies, report);
    selection(spec, kind, namespace, report)
}

/// What is odd about `phase` for audgate.
fn phase_warning(phase: Option<&str>, written: bool) -> Option<String> {
    match phase {
        Some("AUTHN") => None,
        // Refused already.
        None if written => None,
        None | Some("UNSPECIFIED_PHASE" | "UNSPECIFIED") => Some(format!(
            "spec.phase: {}: Istio then puts audgate near the end of the filter chain, \
             after its own authentication and authorization; set phase: AUTHN",
            phase.unwrap_or("not set")
        )),
        Some(phase) => Some(format!(
            "spec.phase: {phase} runs audgate after Istio's authentication filters{}; \
             set phase: AUTHN so that it runs before them",
            if phase == "STATS" {
                " and authorization"
            } else {
                ""
            }
        )),
    }
}

/// `match`: each selector's `mode` (and what audgate's direction wants of it)
/// and `ports`.
fn match_field(field: Option<&Value>, exchanges: bool, verifies: bool, report: &mut Report) {
    let selectors = match field {
        None if exchanges => {
            report.warnings.push(
                "spec.match: not set: the plugin runs on the requests this workload receives \
                 too, and exchange then swaps their tokens; an exchange plugin wants \
                 match: [{mode: CLIENT}]"
                    .into(),
            );
            return;
        }
        None => return,
        Some(Value::Array(selectors)) => selectors,
        Some(_) => {
            report
                .errors
                .push("spec.match: must be a list, e.g. [{mode: SERVER}]".into());
            return;
        }
    };
    for (index, selector) in selectors.iter().enumerate() {
        let at = format!("spec.match[{index}]");
        let Some(fields) = selector.as_object() else {
            report
                .errors
                .push(format!("{at}: must be a mapping, e.g. {{mode: SERVER}}"));
            continue;
        };
        for key in fields
            .keys()
            .filter(|key| *key != "mode" && *key != "ports")
        {
            let hint = closest(key, &["mode", "ports"])
                .map_or(String::new(), |meant| format!("; did you mean {meant}?"));
            report.errors.push(format!(
                "{at}.{key}: not a field of a traffic selector (mode, ports){hint}"
            ));
        }
        let mode = enum_value(fields, &at, &MODE, &mut report.errors);
        if let Some(warning) = mode_warning(&at, mode.as_deref(), exchanges, verifies) {
            report.warnings.push(warning);
        }
        ports(fields.get("ports"), &at, &mut report.errors);
    }
}

/// A traffic selector's `ports`: `number`s 1..65535, each once.
fn ports(field: Option<&Value>, at: &str, errors: &mut Vec<String>) {
    let Some(field) = field else { return };
    let Some(ports) = field.as_array() else {
        errors.push(format!(
            "{at}.ports: must be a list, e.g. [{{number: 8080}}]"
        ));
        return;
    };
    let mut seen = Vec::new();
    for (index, port) in ports.iter().enumerate() {
        let number = port.get("number");
        match number.and_then(Value::as_u64).filter(|n| (1..=65535).contains(n)) {
            Some(n) if seen.contains(&n) => errors.push(format!(
                "{at}.ports[{index}].number: {n} is listed twice (Istio refuses the resource)"
            )),
            Some(n) => seen.push(n),
            None => errors.push(format!(
                "{at}.ports[{index}]: needs number: a port from 1 to 65535, e.g. {{number: 8080}}{}",
                number.map_or(String::new(), |n| format!(", not {n}"))
            )),
        }
    }
}

/// What is odd about `mode` for a plugin that exchanges outbound tokens
/// (`exchanges`) and/or verifies inbound ones (`verifies`).
fn mode_warning(at: &str, mode: Option<&str>, exchanges: bool, verifies: bool) -> Option<String> {
    let client = mode == Some("CLIENT");
    match (exchanges, verifies) {
        (false, _) if client => Some(format!(
            "{at}.mode: CLIENT: audgate then checks the calls this workload makes, \
             not the requests it receives; use SERVER"
        )),
        (true, false) if !client => Some(format!(
            "{at}.mode: {}: exchange swaps the tokens of calls this workload makes; \
             on requests it receives it would swap theirs: use mode: CLIENT (and a \
             SERVER plugin of its own for the inbound check)",
            mode.unwrap_or("not set")
        )),
        (true, true) if client => Some(format!(
            "{at}.mode: CLIENT: providers then check the calls this workload makes, \
             not the requests it receives: give the inbound check a SERVER plugin of its \
             own (providers and exchange together are a gateway's form)"
        )),
        _ => None,
    }
}

/// `selector`, `targetRefs` (and a WasmPlugin's `targetRef`): at most one, each
/// as the schema says; the workloads selected.
fn selection(
    spec: &Map<String, Value>,
    kind: Kind,
    namespace: &str,
    report: &mut Report,
) -> Option<Selects> {
    let given: Vec<&str> = ["selector", "targetRef", "targetRefs"]
        .into_iter()
        .filter(|field| spec.contains_key(*field))
        .filter(|field| kind == Kind::WasmPlugin || *field != "targetRef")
        .collect();
    if given.len() > 1 {
        report.errors.push(format!(
            "spec: {} are {} set: only one of selector or targetRefs can be (Istio refuses the resource)",
            given.join(" and "),
            if given.len() == 2 { "both" } else { "all" }
        ));
        return None;
    }
    match given.first().copied() {
        Some("selector") => match labels(spec.get("selector"), &mut report.errors)? {
            labels if labels.is_empty() => {
                report
                    .notes
                    .push(everywhere_note(namespace, "an empty selector"));
                Some(Selects::Everything)
            }
            labels => Some(Selects::Labels(labels)),
        },
        Some(field) => {
            let refs = match spec.get(field) {
                Some(Value::Array(refs)) if field == "targetRefs" => refs.clone(),
                Some(one) if field == "targetRef" => vec![one.clone()],
                _ => {
                    report.errors.push(format!(
                        "spec.{field}: must be a list, e.g. [{{kind: Gateway, group: gateway.networking.k8s.io, name: …}}]"
                    ));
                    return None;
                }
            };
            targets(&refs, field, report).map(Selects::Targets)
        }
        None => {
            report
                .notes
                .push(everywhere_note(namespace, "no selector or targetRefs"));
            Some(Selects::Everything)
        }
    }
}

/// The note for a plugin that selects no workload in particular (`why`).
fn everywhere_note(namespace: &str, why: &str) -> String {
    if namespace == ROOT_NAMESPACE {
        format!("applies to every workload of the mesh ({why}, in istio-system, Istio's root namespace)")
    } else {
        format!("applies to every workload in namespace {namespace} ({why})")
    }
}

/// `selector`: `matchLabels` only, keys and values as Kubernetes labels, no
/// wildcards.
fn labels(selector: Option<&Value>, errors: &mut Vec<String>) -> Option<BTreeMap<String, String>> {
    let Some(selector) = selector.and_then(Value::as_object) else {
        errors.push("spec.selector: must be a mapping, e.g. {matchLabels: {app: orders}}".into());
        return None;
    };
    let before = errors.len();
    for key in selector.keys().filter(|key| *key != "matchLabels") {
        let why = if key == "matchExpressions" {
            "Istio's workload selector takes matchLabels only".to_owned()
        } else {
            closest(key, &["matchLabels"])
                .map_or("the selector takes matchLabels only".to_owned(), |meant| {
                    format!("did you mean {meant}?")
                })
        };
        errors.push(format!("spec.selector.{key}: not a selector field: {why}"));
    }
    let mut labels = BTreeMap::new();
    match selector.get("matchLabels") {
        None => {}
        Some(Value::Object(given)) => {
            for (key, value) in given {
                let at = format!("spec.selector.matchLabels.{key}");
                if key.is_empty() || key.contains('*') {
                    errors.push(format!(
                        "{at}: a label key must be a name, not empty or a wildcard (Istio refuses the resource)"
                    ));
                }
                match value.as_str() {
                    Some(text) if text.contains('*') => errors.push(format!(
                        "{at}: {text}: no wildcards in a label value (Istio refuses the resource)"
                    )),
                    Some(text) if text.chars().count() > 63 => errors.push(format!(
                        "{at}: longer than a label value can be (63 characters)"
                    )),
                    Some(text) => {
                        labels.insert(key.clone(), text.to_owned());
                    }
                    None => errors.push(format!(
                        "{at}: a label value is text: write it in quotes, e.g. \"{value}\""
                    )),
                }
            }
        }
        Some(_) => errors.push(
            "spec.selector.matchLabels: must be a mapping of labels, e.g. {app: orders}".into(),
        ),
    }
    (errors.len() == before).then_some(labels)
}

/// `targetRefs` entries: `kind`, `name`, `group` as the schema says, no other
/// namespace, and a kind Istio attaches extensions to.
fn targets(refs: &[Value], field: &str, report: &mut Report) -> Option<Vec<String>> {
    let before = report.errors.len();
    if refs.len() > 16 {
        report.errors.push(format!(
            "spec.{field}: {} entries: Istio takes at most 16",
            refs.len()
        ));
    }
    let mut named = Vec::new();
    for (index, target) in refs.iter().enumerate() {
        let at = if field == "targetRef" {
            "spec.targetRef".to_owned()
        } else {
            format!("spec.{field}[{index}]")
        };
        let Some(fields) = target.as_object() else {
            report
                .errors
                .push(format!("{at}: must be a mapping with kind and name"));
            continue;
        };
        for key in fields.keys() {
            if !["group", "kind", "name", "namespace"].contains(&key.as_str()) {
                let hint = closest(key, &["group", "kind", "name", "namespace"])
                    .map_or(String::new(), |meant| format!("; did you mean {meant}?"));
                report.errors.push(format!(
                    "{at}.{key}: not a field of a target reference{hint}"
                ));
            }
        }
        for key in ["group", "kind", "name"] {
            if fields.get(key).is_some_and(|value| !value.is_string()) {
                report
                    .errors
                    .push(format!("{at}.{key}: must be text, in quotes if need be"));
            }
        }
        let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default();
        let (kind, name, group) = (text("kind"), text("name"), text("group"));
        if !is_kind(kind) {
            report.errors.push(format!(
                "{at}.kind: {}: needs the kind of the target, e.g. Gateway or Service",
                if kind.is_empty() { "missing" } else { kind }
            ));
        }
        if name.is_empty() || name.chars().count() > 253 {
            report.errors.push(format!(
                "{at}.name: needs the target's name (1 to 253 characters)"
            ));
        }
        if !group.is_empty() && !is_dns_name(group) {
            report.errors.push(format!(
                "{at}.group: {group}: not an API group name, e.g. gateway.networking.k8s.io"
            ));
        }
        if fields
            .get("namespace")
            .is_some_and(|ns| ns.as_str() != Some(""))
        {
            report.errors.push(format!(
                "{at}.namespace: Istio refuses any namespace here (the target must be in the \
                 resource's own namespace): remove namespace, and put the resource in the \
                 target's namespace if it is elsewhere"
            ));
        }
        if is_kind(kind) && !TARGET_KINDS.contains(&(group, kind)) {
            let meant = TARGET_KINDS
                .iter()
                .find(|(_, known)| known.eq_ignore_ascii_case(kind))
                .map_or(String::new(), |(group, known)| {
                    format!("; did you mean kind: {known}, group: \"{group}\"?")
                });
            report.warnings.push(format!(
                "{at}: kind {kind} in group \"{group}\": Istio attaches extensions to a \
                 Gateway or GatewayClass (group gateway.networking.k8s.io), a Service (group \
                 \"\", waypoints) or a ServiceEntry (group networking.istio.io): this one \
                 applies the plugin nowhere{meant}"
            ));
        }
        // "core" and "" are both the core group (a Service).
        let group = if group == "core" { "" } else { group };
        named.push(format!("{group}/{kind}/{name}"));
    }
    (report.errors.len() == before).then_some(named)
}

/// Whether `kind` is a Kubernetes kind name (a letter, then letters, digits and
/// dashes, at most 63).
fn is_kind(kind: &str) -> bool {
    let mut chars = kind.chars();
    kind.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && !kind.ends_with('-')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Whether `name` is a lowercase DNS name (an API group), at most 253.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// The module's fields: `url`, `sha256`, the enums, the lengths, `vmConfig`;
/// the module (url and digest as written), and the VM's environment.
fn module_fields(
    module: &Map<String, Value>,
    kind: Kind,
    report: &mut Report,
) -> (Option<String>, Option<VmEnv>) {
    let at = kind.module_at();
    let url = url(module.get("url"), at, report);
    let digest = sha256(module.get("sha256"), url.as_deref(), at, report);
    let strategy = enum_value(module, at, &FAIL_STRATEGY, &mut report.errors);
    if strategy.as_deref() == Some("FAIL_OPEN") {
        report.warnings.push(format!(
            "{at}.failStrategy: FAIL_OPEN: WHEN THE MODULE CANNOT BE FETCHED OR LOADED, OR ITS VM \
             FAILS, EVERY REQUEST GOES THROUGH UNCHECKED; use FAIL_CLOSE (the default) or FAIL_RELOAD"
        ));
    }
    enum_value(module, at, &IMAGE_PULL_POLICY, &mut report.errors);
    if enum_value(module, at, &PLUGIN_TYPE, &mut report.errors).as_deref() == Some("NETWORK") {
        report.errors.push(format!(
            "{at}.type: NETWORK runs the module as a network (TCP) filter, and audgate is an \
             HTTP filter: write type: HTTP or leave type out"
        ));
    }
    for (field, most) in [("imagePullSecret", 253), ("pluginName", 256)] {
        if let Some(value) = module.get(field) {
            if value
                .as_str()
                .is_none_or(|text| text.is_empty() || text.chars().count() > most)
            {
                report.errors.push(format!(
                    "{at}.{field}: must be a name of 1 to {most} characters"
                ));
            }
        }
    }
    let env = vm_config(module.get("vmConfig"), kind, &mut report.errors);
    let module_id = url.map(|url| module_identity(&url, digest.as_deref()));
    (module_id, env)
}

/// `url`: required, with a scheme Istio fetches from (none means `oci://`).
fn url(field: Option<&Value>, at: &str, report: &mut Report) -> Option<String> {
    let Some(field) = field else {
        report.errors.push(format!(
            "{at}.url: missing: Istio refuses the resource without the module's location, \
             e.g. url: oci://registry.example.com/audgate:0.1.0"
        ));
        return None;
    };
    let Some(url) = field.as_str().filter(|url| !url.trim().is_empty()) else {
        report.errors.push(format!(
            "{at}.url: must be the module's location, e.g. oci://registry.example.com/audgate:0.1.0"
        ));
        return None;
    };
    if url.chars().any(char::is_whitespace) {
        report
            .errors
            .push(format!("{at}.url: {url}: a URL holds no spaces"));
        return None;
    }
    if let Some(scheme) = url_scheme(url) {
        if !["http", "https", "file", "oci"].contains(&scheme.as_str()) {
            // Istio's rule reads what comes before the first ':' as the scheme,
            // as Go's URL parser does: a registry with a port is read so too.
            let with_port = !url.contains("://");
            let fix = if with_port {
                format!(
                    "; Istio reads {scheme} as the URL's scheme (a registry with a port needs \
                     one): write url: oci://{url}"
                )
            } else {
                String::new()
            };
            report.errors.push(format!(
                "{at}.url: {url}: url must have schema one of [http, https, file, oci] \
                 (Istio refuses the resource){fix}"
            ));
            return None;
        }
    }
    Some(url.to_owned())
}

/// The scheme of `url` as Go's URL parser (and so Istio's CEL rule) reads it,
/// lowercased: a letter, then letters, digits, `+`, `-` or `.`, up to the first
/// `:`; `None` when there is none (Istio then takes an OCI reference).
fn url_scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let starts = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (starts && rest).then(|| scheme.to_ascii_lowercase())
}

/// The module's identity, as Envoy keys a VM by its bytes: its digest when
/// pinned, else its `url` (no scheme meaning `oci://`).
fn module_identity(url: &str, digest: Option<&str>) -> String {
    match digest {
        Some(digest) => format!("sha256:{digest}"),
        None if url_scheme(url).is_some() => url.to_owned(),
        None => format!("oci://{url}"),
    }
}

/// `sha256`: 64 lowercase hex digits or empty, the same as a digest in `url`;
/// the digest the module is pinned to, if any.
fn sha256(
    field: Option<&Value>,
    url: Option<&str>,
    at: &str,
    report: &mut Report,
) -> Option<String> {
    let in_url = url
        .and_then(|url| url.split_once("@sha256:"))
        .map(|(_, digest)| digest.to_owned());
    let written = match field {
        None => None,
        Some(Value::String(text)) if text.is_empty() => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(other) => {
            report.errors.push(format!(
                "{at}.sha256: must be the module's digest as text in quotes, not {other}"
            ));
            return None;
        }
    };
    let Some(digest) = written else {
        let fetched = url.is_some_and(|url| !url.to_ascii_lowercase().starts_with("file://"));
        if in_url.is_none() && fetched {
            report.warnings.push(format!(
                "{at}.sha256: not set: the proxy runs whatever {} serves when it fetches it \
                 (a moved tag, a replaced file); pin the digest `make image` prints as \
                 \"WasmPlugin sha256\"",
                url.unwrap_or_default()
            ));
        }
        return in_url;
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let well_formed = hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit());
    if !well_formed {
        report.errors.push(format!(
            "{at}.sha256: {digest}: must be 64 hex digits (Istio refuses the resource){}",
            if digest.len() > 64 {
                "; is something pasted with it?"
            } else {
                ""
            }
        ));
        return None;
    }
    if digest.starts_with("sha256:") {
        report.errors.push(format!(
            "{at}.sha256: write the 64 hex digits without the sha256: prefix (Istio refuses the \
             resource): sha256: \"{hex}\""
        ));
        return None;
    }
    if hex.chars().any(|c| c.is_ascii_uppercase()) {
        report.errors.push(format!(
            "{at}.sha256: write the hex digits in lowercase (Istio refuses the resource): \
             sha256: \"{}\"",
            hex.to_ascii_lowercase()
        ));
        return None;
    }
    if hex == PLACEHOLDER_DIGEST {
        report.warnings.push(format!(
            "{at}.sha256: the all-zero placeholder: no module matches it, so the proxy never \
             runs audgate (with FAIL_CLOSE it refuses every request); put in the digest \
             `make image` prints as \"WasmPlugin sha256\""
        ));
    }
    if let Some(in_url) = in_url.filter(|in_url| in_url != hex) {
        report.errors.push(format!(
            "{at}.sha256: differs from the digest in url (@sha256:{in_url}): the fetch fails its \
             check and the module never runs; give both the same digest"
        ));
    }
    Some(hex.to_owned())
}

/// `vmConfig`: `env` only, each variable named once, `value` only with INLINE;
/// the environment the VM is given.
fn vm_config(field: Option<&Value>, kind: Kind, errors: &mut Vec<String>) -> Option<VmEnv> {
    let at = format!("{}.vmConfig", kind.module_at());
    let field_name: &'static str = match kind {
        Kind::WasmPlugin => "spec.vmConfig.env",
        Kind::TrafficExtension => "spec.wasm.vmConfig.env",
    };
    let mut env = VmEnv {
        vars: Vec::new(),
        field: field_name,
        how_to_add: "add {name: {var}, valueFrom: HOST} and set {var} on the istio-proxy container",
    };
    let Some(field) = field else {
        return Some(env);
    };
    let Some(config) = field.as_object() else {
        errors.push(format!(
            "{at}: must be a mapping, e.g. {{env: [{{name: X, valueFrom: HOST}}]}}"
        ));
        return None;
    };
    for key in config.keys().filter(|key| *key != "env") {
        errors.push(format!(
            "{at}.{key}: not a vmConfig field (it takes env only)"
        ));
    }
    let Some(vars) = config.get("env") else {
        return Some(env);
    };
    let Some(vars) = vars.as_array() else {
        errors.push(format!(
            "{at}.env: must be a list, e.g. [{{name: X, valueFrom: HOST}}]"
        ));
        return None;
    };
    if vars.len() > 256 {
        errors.push(format!(
            "{at}.env: {} variables: Istio takes at most 256",
            vars.len()
        ));
    }
    let before = errors.len();
    for (index, var) in vars.iter().enumerate() {
        let here = format!("{at}.env[{index}]");
        let Some(fields) = var.as_object() else {
            errors.push(format!(
                "{here}: must be a mapping, e.g. {{name: X, valueFrom: HOST}}"
            ));
            continue;
        };
        for key in fields.keys() {
            if !["name", "value", "valueFrom"].contains(&key.as_str()) {
                let hint = closest(key, &["name", "value", "valueFrom"])
                    .map_or(String::new(), |meant| format!("; did you mean {meant}?"));
                errors.push(format!("{here}.{key}: not a field of a VM variable{hint}"));
            }
        }
        let from = enum_value(fields, &here, &VALUE_FROM, errors);
        let name = fields
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() || name.chars().count() > 256 {
            errors.push(format!(
                "{here}.name: needs the variable's name (1 to 256 characters)"
            ));
            continue;
        }
        if env.vars.iter().any(|known| known.name == name) {
            errors.push(format!(
                "{here}: {name} is given twice (Istio refuses the resource)"
            ));
            continue;
        }
        let value = fields.get("value");
        let source = if from.as_deref() == Some("HOST") {
            if value.is_some() {
                errors.push(format!(
                    "{here}: {name}: value may only be set when valueFrom is INLINE; with HOST \
                     the proxy's own environment gives it (Istio refuses the resource)"
                ));
            }
            EnvSource::Host
        } else {
            match value {
                None => EnvSource::Inline(String::new()),
                Some(Value::String(text)) if text.chars().count() <= 2048 => {
                    EnvSource::Inline(text.clone())
                }
                Some(Value::String(_)) => {
                    errors.push(format!(
                        "{here}.value: longer than Istio takes (2048 characters)"
                    ));
                    EnvSource::Inline(String::new())
                }
                Some(_) => {
                    errors.push(format!(
                        "{here}.value: must be text: write the value in quotes"
                    ));
                    EnvSource::Inline(String::new())
                }
            }
        };
        env.vars.push(EnvVar {
            name: name.to_owned(),
            source,
        });
    }
    env.vars.sort_by(|a, b| a.name.cmp(&b.name));
    (errors.len() == before).then_some(env)
}
