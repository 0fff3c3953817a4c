//! What `check-config` sees across plugins: which workloads a plugin applies
//! to, with which module and which VM environment, and so which plugins run in
//! one proxy with the same module, and whether a configuration's `*_env`
//! variables are in its VM's environment.

use std::collections::BTreeMap;

/// The namespace whose extension resources apply to every namespace (Istio's
/// root namespace, unless the mesh configures another).
pub const ROOT_NAMESPACE: &str = "istio-system";

/// Where an extension resource applies and what it runs there.
pub struct Placement {
    /// The resource's namespace.
    pub namespace: String,
    /// The workloads it selects.
    pub selects: Selects,
    /// The module: its digest when pinned, else its `url`.
    pub module: String,
    /// `vmConfig.env`, sorted by name.
    pub env: Vec<EnvVar>,
}

/// The workloads a resource selects.
pub enum Selects {
    /// Neither `selector` nor `targetRefs`: every workload of the namespace.
    Everything,
    /// `selector.matchLabels`.
    Labels(BTreeMap<String, String>),
    /// `targetRefs` (and `targetRef`), each as `group/kind/name`.
    Targets(Vec<String>),
}

/// One variable of a VM's environment.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// `HOST`, or the inline value.
    pub source: EnvSource,
}

/// Where a VM's variable comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// The proxy's own environment (`valueFrom: HOST`, `host_env_keys`).
    Host,
    /// Written in the resource (`INLINE`, `key_values`).
    Inline(String),
}

/// The environment a plugin's VM is given, for the `*_env` check.
pub struct VmEnv {
    /// The variables given.
    pub vars: Vec<EnvVar>,
    /// Where they are given, e.g. `spec.vmConfig.env`.
    pub field: &'static str,
    /// How to add one: `{var}` stands for its name.
    pub how_to_add: &'static str,
}

impl Placement {
    /// Whether `self` and `other` may apply to one workload.
    /// Plugins that select workloads (namespace-wide or by labels) meet in a
    /// namespace or from the root namespace; `targetRefs` name targets in their
    /// own namespace only (a gateway's or waypoint's, never taken to meet a
    /// selector's).
    fn overlaps(&self, other: &Placement) -> bool {
        let same = self.namespace == other.namespace;
        let from_root = self.namespace == ROOT_NAMESPACE || other.namespace == ROOT_NAMESPACE;
        match (&self.selects, &other.selects) {
            (Selects::Targets(mine), Selects::Targets(theirs)) => {
                same && mine.iter().any(|target| theirs.contains(target))
            }
            (Selects::Targets(_), _) | (_, Selects::Targets(_)) => false,
            (Selects::Everything, _) | (_, Selects::Everything) => same || from_root,
            (Selects::Labels(mine), Selects::Labels(theirs)) => {
                (same || from_root)
                    && mine
                        .iter()
                        .all(|(key, value)| theirs.get(key).is_none_or(|their| their == value))
            }
        }
    }
}

/// For each plugin (by index into `placements`) that runs the same module on
/// the same workloads as an earlier one with another `vmConfig.env`, a warning
/// naming the earlier one (`labels` holds each plugin's name).
pub fn differing_environments(
    placements: &[Option<&Placement>],
    labels: &[&str],
) -> Vec<(usize, String)> {
    let mut warnings = Vec::new();
    for (later, placement) in placements.iter().enumerate() {
        let Some(placement) = placement else { continue };
        let earlier = placements
            .iter()
            .take(later)
            .enumerate()
            .find_map(|(index, other)| {
                other
                    .filter(|other| {
                        other.module == placement.module
                            && placement.overlaps(other)
                            && other.env != placement.env
                    })
                    .map(|other| (index, other))
            });
        let Some((index, other)) = earlier else {
            continue;
        };
        let name = labels.get(index).copied().unwrap_or("another plugin");
        let differ = differing_names(&placement.env, &other.env).join(", ");
        warnings.push((
            later,
            format!(
                "vmConfig.env: differs from {name}'s ({differ}), which runs the same module \
                 on the same workloads: Envoy 1.36 and older run the two in one VM with the \
                 environment of whichever plugin created it (the other's variables missing), \
                 Envoy 1.40 gives each a VM of its own (twice the memory); give both the same \
                 vmConfig.env"
            ),
        ));
    }
    warnings
}

/// The names whose presence or source differs between `a` and `b`.
fn differing_names(a: &[EnvVar], b: &[EnvVar]) -> Vec<String> {
    let mut names: Vec<String> = a
        .iter()
        .filter(|var| !b.contains(var))
        .chain(b.iter().filter(|var| !a.contains(var)))
        .map(|var| var.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What is wrong with how the VM gives the variables a configuration reads
/// (`asked`): (errors, warnings). A variable not given leaves the configuration
/// refused on the proxy; a secret written inline is readable in the resource.
pub fn environment_problems(env: &VmEnv, asked: &[String]) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for name in asked {
        match env.vars.iter().find(|var| &var.name == name) {
            None => errors.push(format!(
                "{}: does not give {name}, which the configuration reads from the VM's \
                 environment: the proxy refuses the configuration without it; {}",
                env.field,
                env.how_to_add.replace("{var}", name)
            )),
            Some(EnvVar {
                source: EnvSource::Inline(_),
                ..
            }) if env.field.starts_with("spec.") => warnings.push(format!(
                "{}: {name} is written in the resource (INLINE): whoever can read the \
                 resource or the proxy's config dump reads the secret; use valueFrom: HOST \
                 and fill it in the istio-proxy container from a Kubernetes Secret",
                env.field
            )),
            Some(_) => {}
        }
    }
    (errors, warnings)
}
