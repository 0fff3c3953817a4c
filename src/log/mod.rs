//! What a refusal's log line says: who sent the request, the token's facts that
//! are safe to print, and the budget that keeps a flood from flooding the log.

pub mod budget;
pub mod token_facts;
pub mod who;
