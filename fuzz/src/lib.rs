//! The checks behind audgate's fuzz targets, as plain functions of the input bytes:
//! `fuzz_targets/*.rs` hand them libFuzzer's inputs, and the main crate's
//! `tests/native/fuzz_corpus.rs` (which includes this file, and so the modules below)
//! replays the committed corpus and every saved crash (`fuzz/regressions/`)
//! through them under `cargo test`; `examples/fuzz_seeds.rs` includes it too, for
//! the decision target's seeds and dictionary.
//!
//! Each function panics when audgate breaks one of its promises on that input; a
//! panic inside audgate itself is a finding too. See fuzz/README.md.
//!
//! - `fixture.rs`: the token fixture (`fixtures/`: a provider, a clock, the valid
//!   seed tokens), which the token, config and decision targets share.
//! - `token.rs`, `config.rs`, `jwks.rs`, `introspection.rs`: those targets, each
//!   its entry function and its checks.
//! - `decision.rs`: the decision target (its config, fixture, self-check and
//!   entry function), with `decision/case.rs` (the request built from the
//!   input), `decision/check.rs` (invariants (a), (b), (c), (e)),
//!   `decision/fast_path.rs` ((d)) and `decision/seeds.rs` (seeds, dictionary).
//! - `input.rs`: the decision target's input format: the pieces tables and
//!   `RequestSpec::read` / `write`.
//! - `oracle/`: what the decision target checks against, written from
//!   docs/configuration.md and not from audgate's code: the upstream's reading of
//!   a path (`path.rs`), the config as the docs read it and first-match rule
//!   matching (`policy.rs`), header-name spellings (`header.rs`).
//!
//! The modules name each other with `super::`, never `crate::`: the test and the
//! example compile these files as a module of theirs (`mod fuzz_checks`).

pub mod config;
pub mod decision;
pub mod fixture;
pub mod input;
pub mod introspection;
pub mod jwks;
pub mod oracle;
pub mod token;

// The entry points and the seed format, where they were before the split
// (`audgate_fuzz::token`, `fuzz_checks::decision_seed_specs`, ...).
pub use config::config;
pub use decision::{
    decision, decision_config, decision_dictionary, decision_fixture, decision_request,
    decision_seed_specs, decision_seeds, DecisionFixture,
};
pub use fixture::{fixture, Fixture};
pub use input::{index_of, CookiePair, HeaderName, HeaderValue, QueryPair, RequestSpec, Slot, Tok};
pub use introspection::introspection;
pub use jwks::jwks;
pub use token::token;
