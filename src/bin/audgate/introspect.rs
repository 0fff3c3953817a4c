//! `audgate verify` for a provider with `introspection`: its endpoint is asked
//! with the filter's own form and client authentication, the answer judged by
//! the filter's own code, and what it said is printed before the decision.

use std::cell::RefCell;

use audgate::config::Config;
use audgate::keys::introspection::answer::{
    judge, Introspected, IntrospectionFailure, MAX_ANSWER_BYTES,
};
use audgate::keys::introspection::ask::ask;
use audgate::keys::introspection::vouched::{Introspections, Known, Vouched};

use crate::fetch::{Fetcher, Unanswered};

/// Each introspection endpoint asked once per token, over http or https
/// (`cacert`: the CA certificates trusted instead of the usual roots).
pub struct CliIntrospections<'a> {
    config: &'a Config,
    cacert: Option<&'a str>,
    /// What each endpoint said, by provider and token.
    said: RefCell<Vec<(usize, String, Vouched)>>,
}

impl<'a> CliIntrospections<'a> {
    /// Asks the endpoints of `config`'s providers, trusting `cacert`.
    pub fn new(config: &'a Config, cacert: Option<&'a str>) -> CliIntrospections<'a> {
        CliIntrospections {
            config,
            cacert,
            said: RefCell::new(Vec::new()),
        }
    }

    /// Asks provider `index`'s endpoint about `token`, printing what it said.
    fn ask(&self, index: usize, token: &str) -> Option<Vouched> {
        let provider = self.config.providers.get(index)?;
        let settings = provider.introspection()?;
        let uri = &settings.endpoint.uri;
        outln!(
            "introspection: provider {} asks POST {uri} (timeout {} ms)",
            provider.name,
            settings.endpoint.timeout.as_millis()
        );
        let judged = match Fetcher::with_timeout(self.cacert, settings.endpoint.timeout) {
            Err(error) => {
                outln!("introspection: {error}");
                Err(IntrospectionFailure::NoAnswer)
            }
            Ok(fetcher) => {
                let asked = ask(token, &settings.client);
                let authorization = asked.authorization.as_deref();
                match fetcher.post_form(uri, &asked.body, authorization, MAX_ANSWER_BYTES) {
                    Ok((status, body)) => judge(Some(u32::from(status)), &body),
                    Err(Unanswered::TimedOut) => Err(IntrospectionFailure::TimedOut),
                    Err(Unanswered::TooLarge) => Err(IntrospectionFailure::TooLarge),
                    Err(Unanswered::Unreachable(words)) => {
                        outln!("introspection: {uri}: {words}");
                        Err(IntrospectionFailure::NoAnswer)
                    }
                }
            }
        };
        match &judged {
            Ok(Introspected::Active(claims)) => {
                let shown = serde_json::to_string_pretty(claims).unwrap_or_default();
                outln!("introspection: active; the answer's claims:\n{shown}");
            }
            Ok(Introspected::Inactive(why)) => {
                outln!("introspection: not vouched for ({})", inactive_words(*why));
            }
            Err(failure) => outln!("introspection: failed: {failure}"),
        }
        Some(Vouched::from(&judged))
    }
}

impl Introspections for CliIntrospections<'_> {
    fn vouched(&self, provider: usize, token: &str) -> Option<Known> {
        let known = self.said.borrow().iter().find_map(|(index, asked, said)| {
            (*index == provider && asked == token).then(|| said.clone())
        });
        if let Some(said) = known {
            return Some(Known::fresh(said));
        }
        let said = self.ask(provider, token)?;
        self.said
            .borrow_mut()
            .push((provider, token.to_owned(), said.clone()));
        Some(Known::fresh(said))
    }
}

fn inactive_words(why: audgate::keys::introspection::answer::Inactive) -> &'static str {
    use audgate::keys::introspection::answer::Inactive;
    match why {
        Inactive::NotActive => "active: false",
        Inactive::UnsupportedTokenType => "400 unsupported_token_type",
    }
}
