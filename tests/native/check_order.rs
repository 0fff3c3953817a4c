//! The order of checks: everything decidable without keys is decided before any
//! key is looked up, so a token minted for another service costs no crypto and
//! can never make the filter reach for keys (or, with remote keys, fetch them).

use std::cell::Cell;

use crate::support::cases::{self, claims};
use crate::support::decide;
use crate::support::keys::{self, now, TestKey};
use audgate::config::Config;
use audgate::decision::{KeyStore, LocalKeys};
use audgate::keys::jwks::KeySet;
use audgate::keys::verify::RustCrypto;
use audgate::rejection::Rejection;
use serde_json::json;

/// A key store that counts how often the decision asks for keys.
struct CountingKeys<'a> {
    inner: LocalKeys<'a>,
    lookups: Cell<usize>,
}

impl KeyStore for CountingKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        self.lookups.set(self.lookups.get() + 1);
        self.inner.key_set(provider)
    }
}

fn run(config: &Config, token: &str, keys: &dyn KeyStore) -> Result<(), Rejection> {
    decide::bearer(config, Some(token), keys, &RustCrypto).verdict
}

#[test]
fn key_free_rejections_never_look_up_keys() {
    let config = Config::from_json(cases::config().to_string().as_bytes()).unwrap();
    let key_free = [
        (
            "another audience",
            keys::sign_default(TestKey::Rsa1, claims(json!({"aud": "payments.svc"}))),
            Rejection::AudienceNotAllowed,
        ),
        (
            "no aud",
            keys::sign_default(TestKey::Rsa1, claims(json!({"aud": null}))),
            Rejection::AudienceNotAllowed,
        ),
        (
            "wrong issuer",
            keys::sign_default(TestKey::Rsa1, claims(json!({"iss": "https://evil"}))),
            Rejection::WrongIssuer,
        ),
        (
            "expired",
            keys::sign_default(TestKey::Rsa1, claims(json!({"exp": now() - 3600}))),
            Rejection::Expired,
        ),
        // unknown kid AND another audience: the audience decides, no lookup
        (
            "unknown kid for another audience",
            keys::sign_default(TestKey::Rsa2, claims(json!({"aud": "payments.svc"}))),
            Rejection::AudienceNotAllowed,
        ),
    ];
    for (name, token, expected) in key_free {
        let counting = CountingKeys {
            inner: LocalKeys(&config),
            lookups: Cell::new(0),
        };
        assert_eq!(run(&config, &token, &counting), Err(expected), "{name}");
        assert_eq!(counting.lookups.get(), 0, "{name}: keys were looked up");
    }
    let counting = CountingKeys {
        inner: LocalKeys(&config),
        lookups: Cell::new(0),
    };
    let good = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    assert_eq!(run(&config, &good, &counting), Ok(()));
    assert_eq!(
        counting.lookups.get(),
        1,
        "a good token needs its keys once"
    );
}

#[test]
fn audience_is_decided_even_when_keys_are_unavailable() {
    let config = Config::from_json(
        json!({"providers": [{
            "name": "remote", "issuer": cases::ISSUER, "audiences": [cases::AUDIENCE],
            "remote_jwks": {"uri": "https://idp.test/jwks", "cluster": "idp"},
        }]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let keys = LocalKeys(&config);
    let other = keys::sign_default(TestKey::Rsa1, claims(json!({"aud": "payments.svc"})));
    assert_eq!(
        run(&config, &other, &keys),
        Err(Rejection::AudienceNotAllowed)
    );
    let ours = keys::sign_default(TestKey::Rsa1, claims(json!({})));
    assert_eq!(run(&config, &ours, &keys), Err(Rejection::KeysUnavailable));
    assert_eq!(Rejection::KeysUnavailable.status(), 503);
}
