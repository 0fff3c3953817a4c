//! What the configuration reads from where it runs rather than from itself:
//! `${node.KEY}` from the proxy's node metadata, and secrets (`*_env`) from the
//! VM's environment, so that no secret is ever in the plugin configuration.

/// Where `${node.KEY}` and `*_env` secrets are read.
pub struct Lookups<'a> {
    /// The proxy's node metadata.
    pub node: &'a dyn Fn(&str) -> Option<String>,
    /// The VM's environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters.
pub(super) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first = bytes.next();
    name.len() <= 128
        && first.is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
