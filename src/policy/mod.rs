//! Policy: which rule a request meets (paths, templates, methods), what it
//! requires (providers, audiences, claims with placeholders) and who may call.

pub mod caller;
pub mod claim_rule;
pub mod placeholder;
pub mod requirement;
mod rules;
pub mod step_up;
pub mod template;

pub use rules::*;
