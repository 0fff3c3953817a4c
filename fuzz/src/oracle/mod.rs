//! The `decision` target's oracles, written from docs/configuration.md ("Rule",
//! "Provider", "Path spellings") and not from audgate's src/request_path.rs or
//! src/policy.rs, so that a mistake there is not copied here:
//!
//! - `path`: the most permissive upstream's reading of a path
//!   (`upstream_reading`), and when a path is ambiguous;
//! - `policy`: the config as the docs read it (providers, rules, which valid
//!   token vouches for which provider) and first-match rule matching
//!   (`rule_for`);
//! - `header`: header-name spellings that are one header to some server
//!   (`same_spelling`).

pub mod header;
pub mod path;
pub mod policy;
