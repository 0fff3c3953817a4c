//! The decision target's invariants on one request, against the oracles: (a) no
//! pass without a token that vouches for the rule, and the rule applied is the
//! oracle's; (b) the decision for a path is the decision for the path the
//! upstream resolves; (c) no output header the client sent survives, and the
//! path sent upstream falls under the rule applied; (e) a respelling never gets
//! a weaker verdict. (d) is `fast_path.rs`.

use audgate::decision::Decision;

use super::super::oracle::header::same_spelling;
use super::super::oracle::path::{is_ambiguous, upstream_reading, upstream_readings};
use super::super::oracle::policy::{self, Need};
use super::case::Case;
use super::DecisionFixture;

/// Every other ASCII letter of `text` in upper case, the rest as they are (so
/// the result is never a lower-case spelling the original was not).
fn some_letters_upper(text: &str) -> String {
    let mut upper = true;
    text.chars()
        .map(|c| {
            if !c.is_ascii_alphabetic() {
                return c;
            }
            upper = !upper;
            if upper {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

impl DecisionFixture {
    /// The oracle's rule for `method` and the resolved `path`
    /// (`policy::rule_for`), `None` for the fallback.
    fn rule_for(&self, method: &str, path: &str, skip_lax: bool) -> Option<usize> {
        policy::rule_for(&self.rules, method, path, skip_lax)
    }

    /// What rule `rule` (or the fallback: a token from any provider) needs.
    fn need(&self, rule: Option<usize>) -> Need {
        policy::need(&self.rules, self.providers.len(), rule)
    }

    /// Whether a valid token in the request verifies for provider `p`.
    fn vouched_for(&self, case: &Case, p: usize) -> bool {
        (0..self.valid.len()).any(|t| case.present[t] && self.vouches[t][p])
    }

    /// Whether the request's valid tokens could meet `need`.
    fn vouched(&self, case: &Case, need: &Need) -> bool {
        let mut providers = need.providers.iter();
        if need.all {
            providers.all(|&p| self.vouched_for(case, p))
        } else {
            providers.any(|&p| self.vouched_for(case, p))
        }
    }

    /// Whether no source of any of `need`'s providers holds anything.
    fn no_source_present(&self, case: &Case, need: &Need) -> bool {
        need.providers.iter().all(|&p| {
            let provider = &self.providers[p];
            let header = case
                .headers
                .iter()
                .any(|(name, _)| provider.headers.iter().any(|(source, _)| source == name));
            let param = !provider.params.is_empty() && case.path.contains('?');
            let cookie = !provider.cookies.is_empty()
                && case.headers.iter().any(|(name, _)| name == "cookie");
            !(header || param || cookie)
        })
    }

    /// The request and decision, tokens shown as `<valid#i>` / `<forged#i>`.
    fn show(&self, case: &Case, decision: &Decision) -> String {
        let mut text = format!(
            "request: {} {:?}\nheaders: {:?}\ndecision: {:?}",
            case.method, case.path, case.headers, decision
        );
        let mut named: Vec<(String, &str)> = Vec::new();
        for (i, token) in self.valid.iter().enumerate() {
            named.push((format!("<valid#{i}>"), token));
            named.push((
                format!("<valid#{i}>"),
                token.split('.').nth(1).unwrap_or(""),
            ));
        }
        for (i, token) in self.forged.iter().enumerate() {
            named.push((format!("<forged#{i}>"), token));
        }
        named.sort_by_key(|(_, token)| std::cmp::Reverse(token.len()));
        for (name, token) in named {
            if token.len() > 8 {
                text = text.replace(token, &name);
            }
        }
        text
    }
}

impl DecisionFixture {
    /// Panics with the request, the decision and what broke.
    fn fail(&self, case: &Case, decision: &Decision, what: &str) -> ! {
        panic!(
            "decision invariant broken: {what}\n{}",
            self.show(case, decision)
        )
    }

    /// The checks that depend on which rule applied, for the rule `used`: `none`
    /// passes untouched; a forged token where the rule's providers look is
    /// refused when no valid token is anywhere, even under `allow_missing`;
    /// `allow_missing` with nothing in any source passes; a pass names a provider
    /// of the rule and sets only its outputs.
    fn check_rule(
        &self,
        case: &Case,
        decision: &Decision,
        used: Option<usize>,
        any_valid: bool,
    ) -> Result<(), String> {
        let passed = decision.verdict.is_ok();
        let need = self.need(used);
        if need.providers.is_empty()
            && (!passed
                || decision.provider.is_some()
                || !decision.mutations.set_headers.is_empty())
        {
            return Err(format!("rule {used:?} is `none`"));
        }
        if passed && !any_valid && need.providers.iter().any(|&p| case.forged_in[p]) {
            return Err(format!("passed rule {used:?} on a forged token"));
        }
        if need.allow_missing
            && self.no_source_present(case, &need)
            && (!passed || decision.provider.is_some())
        {
            return Err(format!("rule {used:?} allows a missing token"));
        }
        if passed && !need.providers.is_empty() {
            match decision.provider {
                None if !need.allow_missing => return Err("passed without a provider".into()),
                Some(p) if !need.providers.contains(&p) => {
                    return Err(format!("provider {p} is not one of rule {used:?}"))
                }
                _ => {}
            }
        }
        for (name, _) in &decision.mutations.set_headers {
            let owner = need
                .providers
                .iter()
                .any(|&p| self.providers[p].outputs.contains(name));
            if !owner {
                return Err(format!("sets {name}, no output of rule {used:?}"));
            }
        }
        Ok(())
    }

    /// Every invariant, on one request; `pick` chooses the spelling of (e).
    pub(super) fn check(&self, case: &Case, pick: usize) {
        let decision = self.decide(case.method, &case.path, &case.headers);
        let passed = decision.verdict.is_ok();
        let (raw, query) = match case.path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (case.path.as_str(), None),
        };
        let readings = upstream_readings(raw);
        let reading = &readings[0];
        let ambiguous = is_ambiguous(raw);
        // Per reading of the path: the rule it falls under (`permissive`) and the
        // one the docs say applies (`used`: an ambiguous path passes over `none`
        // and `allow_missing` rules).
        let rules: Vec<(Option<usize>, Option<usize>)> = readings
            .iter()
            .map(|r| {
                (
                    self.rule_for(case.method, r, false),
                    self.rule_for(case.method, r, ambiguous),
                )
            })
            .collect();
        let any_valid = case.present.iter().any(|&p| p);
        let unvouched = |rule: Option<usize>| {
            let need = self.need(rule);
            need.needs_token() && !self.vouched(case, &need)
        };

        // (a) No token vouches for the rule the path falls under: refused.
        if passed && rules.iter().all(|&(permissive, _)| unvouched(permissive)) {
            self.fail(
                case,
                &decision,
                &format!(
                    "passed with no token that vouches for rule {:?} (upstream reads {reading:?})",
                    rules[0].0
                ),
            );
        }
        // The rule applied is the oracle's (either reading's, when there are two).
        let outcomes: Vec<Result<(), String>> = rules
            .iter()
            .map(|&(_, used)| self.check_rule(case, &decision, used, any_valid))
            .collect();
        if !outcomes.iter().any(Result::is_ok) {
            if let Some(Err(what)) = outcomes.first() {
                self.fail(
                    case,
                    &decision,
                    &format!("{what} (upstream reads {reading:?})"),
                );
            }
        }
        // A refusal sets nothing; a pass sets a payload header only to the payload
        // of a valid token for the provider that owns the header.
        for (name, value) in &decision.mutations.set_headers {
            if !passed {
                self.fail(case, &decision, "a refusal sets headers");
            }
            for (p, provider) in self.providers.iter().enumerate() {
                if provider.payload_header.as_deref() != Some(name.as_str()) {
                    continue;
                }
                let signed = self.valid.iter().enumerate().any(|(t, token)| {
                    self.vouches[t][p] && token.split('.').nth(1) == Some(value.as_str())
                });
                if !signed {
                    self.fail(
                        case,
                        &decision,
                        &format!("{name}: a payload no fixture key signed for provider {p}"),
                    );
                }
            }
        }

        // (b) The verdict on the path is the verdict on the upstream's reading
        // of it; on an ambiguous path at least as strict.
        if ambiguous && passed && !any_valid {
            self.fail(
                case,
                &decision,
                "an ambiguous path passed without a valid token",
            );
        }
        let resolved = |reading: &str| match query {
            Some(query) => format!("{reading}?{query}"),
            None => reading.to_owned(),
        };
        if !ambiguous && resolved(reading) != case.path {
            let other = self.decide(case.method, &resolved(reading), &case.headers);
            if (&other.verdict, other.provider) != (&decision.verdict, decision.provider) {
                self.fail(
                    case,
                    &decision,
                    &format!(
                        "decided otherwise for the path the upstream resolves, {:?}: {other:?}",
                        resolved(reading)
                    ),
                );
            }
        }
        if ambiguous && passed {
            let refused: Vec<Decision> = readings
                .iter()
                .map(|r| self.decide(case.method, &resolved(r), &case.headers))
                .filter(|other| other.verdict.is_err())
                .collect();
            if refused.len() == readings.len() {
                self.fail(
                    case,
                    &decision,
                    &format!(
                        "passed an ambiguous path that is refused as resolved, {:?}: {:?}",
                        resolved(reading),
                        refused[0]
                    ),
                );
            }
        }

        // (c) No header the client sent under an output's name, in any
        // spelling, reaches the upstream; nothing else is removed but token
        // sources.
        let removed = &decision.mutations.remove_headers;
        for (name, _) in &case.headers {
            let output = self.outputs.iter().any(|o| same_spelling(o, name));
            if output && !removed.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                self.fail(case, &decision, &format!("the client's {name} survives"));
            }
        }
        for name in removed {
            let output = self.outputs.iter().any(|o| same_spelling(o, name));
            let source = self
                .providers
                .iter()
                .any(|p| p.headers.iter().any(|(source, _)| source == name));
            if !output && !source {
                self.fail(case, &decision, &format!("removes {name}"));
            }
        }
        // On a pass, the path sent upstream, as the upstream reads it, falls under
        // a rule that a token in the request vouches for, and it is the rule that
        // was applied. For an ambiguous path (decided under a rule that needs a
        // token) also accepted: the rule the path's own reading falls under, or a
        // `none` or `allow_missing` one (the stricter rule was applied; audgate
        // sends its reading upstream: `/healthz/;x` goes up as `/healthz`).
        if passed {
            let sent = decision.mutations.path.as_deref().unwrap_or(&case.path);
            let sent = sent.split_once('?').map_or(sent, |(path, _)| path);
            let upstream = upstream_reading(sent);
            let rule = self.rule_for(case.method, &upstream, false);
            if unvouched(rule) {
                self.fail(
                    case,
                    &decision,
                    &format!(
                        "sent upstream {sent:?}, read {upstream:?}: rule {rule:?}, which no token vouches for"
                    ),
                );
            }
            let lax = !self.need(rule).needs_token();
            let consistent = rules.iter().any(|&(permissive, used)| {
                rule == used || (ambiguous && (rule == permissive || lax))
            });
            if !consistent {
                self.fail(
                    case,
                    &decision,
                    &format!(
                        "sent upstream {sent:?}, read {upstream:?}, rule {rule:?}; decided under rule {:?}",
                        rules[0].1
                    ),
                );
            }
        }

        // (e) A spelling that a lenient upstream serves as the same resource
        // never gets a weaker verdict.
        let protected = rules.iter().all(|&(_, used)| used == rules[0].1)
            && self.need(rules[0].1).needs_token();
        self.check_spelling(case, &decision, protected, pick);
    }

    /// (e) Another ASCII case, a trailing slash, doubled slashes or `HEAD` for
    /// `GET` (one of them per input, by `pick`): when the request is refused, so
    /// is the respelled one; when a rule that needs a token decided it
    /// (`protected`), the respelled one is decided the same way (verdict and
    /// provider).
    fn check_spelling(&self, case: &Case, decision: &Decision, protected: bool, pick: usize) {
        let (raw, query) = case
            .path
            .split_once('?')
            .map_or((case.path.as_str(), None), |(path, query)| {
                (path, Some(query))
            });
        let (method, spelled, how) = match pick % 5 {
            0 => (case.method, raw.to_ascii_uppercase(), "upper case"),
            1 => (
                case.method,
                some_letters_upper(raw),
                "some letters upper case",
            ),
            2 => (case.method, format!("{raw}/"), "a trailing slash"),
            3 => (case.method, raw.replace('/', "//"), "doubled slashes"),
            _ if case.method.eq_ignore_ascii_case("GET") => ("HEAD", raw.to_owned(), "HEAD"),
            _ => (
                case.method,
                format!("{}/", raw.to_ascii_uppercase()),
                "upper case and a trailing slash",
            ),
        };
        let path = match query {
            Some(query) => format!("{spelled}?{query}"),
            None => spelled,
        };
        if method == case.method && path == case.path {
            return;
        }
        let other = self.decide(method, &path, &case.headers);
        let weaker = decision.verdict.is_err() && other.verdict.is_ok();
        let differs =
            protected && (&other.verdict, other.provider) != (&decision.verdict, decision.provider);
        if weaker || differs {
            self.fail(
                case,
                decision,
                &format!("respelled ({how}) as {method} {path:?}, decided otherwise: {other:?}"),
            );
        }
    }
}
