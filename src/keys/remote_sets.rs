//! The remote key sets of one configuration, and this VM's copy of each.
//! Providers that fetch the same thing through the same cluster (and, with
//! discovery, for the same issuer) share one set: one fetch, one copy, one fetch
//! state. Each set has its shared-data keys, prefixed by the plugin and a tag of
//! what is fetched and through which cluster, so a changed `uri` or `cluster`
//! never reads another set's keys.

use crate::keys::fetch_state::{settings_tag, Freshness};
use crate::keys::host::SharedData;
use crate::keys::jwks::KeySet;
use crate::keys::key_copy::KeyCopy;
use crate::keys::store::KeyStore;

/// Where a provider's keys are fetched from: the compiled `remote_jwks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyServer {
    /// What is fetched first: the JWKS, or with `discovery` the issuer's OpenID
    /// configuration document.
    pub uri: String,
    /// Its authority: the callout's `:authority`.
    pub authority: String,
    /// Its path and query: the first callout's `:path`.
    pub path: String,
    /// `uri` is the discovery document, whose `jwks_uri` names the key set.
    pub discovery: bool,
    /// The cluster the callouts go through.
    pub cluster: String,
    /// Per-callout timeout, milliseconds.
    pub timeout_ms: u64,
    /// How long fetched keys are used, seconds.
    pub cache_duration_s: u64,
}

/// A provider whose keys are remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteProvider {
    /// Its name, for logs.
    pub name: String,
    /// Its issuer, which a discovery document must name.
    pub issuer: String,
    /// Where its keys come from.
    pub server: KeyServer,
}

/// One remote key set.
#[derive(Debug, Clone)]
pub struct RemoteSet {
    /// What is fetched, through which cluster; the shortest timeout and cache
    /// duration of the providers that share it.
    pub server: KeyServer,
    /// The providers that use it (their indices in the configuration).
    pub providers: Vec<usize>,
    /// Their names, for logs ("orders-idp" or "orders-idp, admin-idp").
    pub label: String,
    /// The issuer a discovery document must name ("" without discovery).
    pub issuer: String,
    /// Shared-data key of the fetched key set.
    pub keys_key: String,
    /// Shared-data key of the fetch state (lease, failures, refetch).
    pub state_key: String,
    /// Cache duration and timeout, in milliseconds.
    pub freshness: Freshness,
    /// This VM's copy of the keys.
    pub copy: KeyCopy,
}

impl RemoteSet {
    /// The first provider's index, under which fetch stats are counted.
    pub fn first_provider(&self) -> usize {
        self.providers.first().copied().unwrap_or(0)
    }

    /// Reads this set from shared data into this VM's copy; true when the keys
    /// changed.
    pub fn sync(&mut self, shared: &dyn SharedData) -> bool {
        self.copy.sync(shared, &self.keys_key, &self.label)
    }
}

/// The remote key sets, and which one each provider uses.
#[derive(Debug, Clone, Default)]
pub struct RemoteSets {
    sets: Vec<RemoteSet>,
    /// By provider index: its set in `sets`, `None` for local keys.
    set_of: Vec<Option<usize>>,
}

impl RemoteSets {
    /// Groups `providers` (by index; `None` for a provider with local keys) into
    /// their key sets; shared-data keys are prefixed by `plugin` (the plugin's
    /// name and root id).
    pub fn group(plugin: &str, providers: &[Option<RemoteProvider>]) -> RemoteSets {
        let mut sets: Vec<RemoteSet> = Vec::new();
        let mut set_of = Vec::with_capacity(providers.len());
        for (index, provider) in providers.iter().enumerate() {
            let Some(provider) = provider else {
                set_of.push(None);
                continue;
            };
            let server = &provider.server;
            // A discovered set is the issuer's: its document must name that issuer.
            let issuer = if server.discovery {
                provider.issuer.as_str()
            } else {
                ""
            };
            let same = |set: &RemoteSet| {
                set.server.uri == server.uri
                    && set.server.cluster == server.cluster
                    && set.server.discovery == server.discovery
                    && set.issuer == issuer
            };
            if let Some(position) = sets.iter().position(same) {
                if let Some(set) = sets.get_mut(position) {
                    set.providers.push(index);
                    set.label = format!("{}, {}", set.label, provider.name);
                    set.server.timeout_ms = set.server.timeout_ms.min(server.timeout_ms);
                    set.server.cache_duration_s =
                        set.server.cache_duration_s.min(server.cache_duration_s);
                    set.freshness = freshness(&set.server);
                }
                set_of.push(Some(position));
                continue;
            }
            let tag = settings_tag(&format!("{}{issuer}", server.uri), &server.cluster);
            let prefix = format!("audgate;{plugin};jwks;{tag}");
            set_of.push(Some(sets.len()));
            sets.push(RemoteSet {
                keys_key: format!("{prefix};keys"),
                state_key: format!("{prefix};state"),
                freshness: freshness(server),
                server: server.clone(),
                providers: vec![index],
                label: provider.name.clone(),
                issuer: issuer.to_owned(),
                copy: KeyCopy::default(),
            });
        }
        RemoteSets { sets, set_of }
    }

    /// Whether no provider has remote keys.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// How many sets there are.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Every set.
    pub fn iter(&self) -> std::slice::Iter<'_, RemoteSet> {
        self.sets.iter()
    }

    /// Set `index`.
    pub fn get(&self, index: usize) -> Option<&RemoteSet> {
        self.sets.get(index)
    }

    /// Set `index`, to change.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut RemoteSet> {
        self.sets.get_mut(index)
    }

    /// The index of provider `provider`'s set, if its keys are remote.
    pub fn index_of(&self, provider: usize) -> Option<usize> {
        *self.set_of.get(provider)?
    }

    /// Provider `provider`'s set, if its keys are remote.
    pub fn of_provider(&self, provider: usize) -> Option<&RemoteSet> {
        self.sets.get(self.index_of(provider)?)
    }

    /// Provider `provider`'s remote keys, if this VM's copy may still verify
    /// tokens at `now_ms` (within their cache duration, or stale within the
    /// grace).
    pub fn usable_keys(&self, provider: usize, now_ms: u64) -> Option<&KeySet> {
        let set = self.of_provider(provider)?;
        set.copy.usable(set.freshness, now_ms)
    }

    /// A number that changes whenever provider `provider`'s remote keys do (0
    /// for local keys).
    pub fn generation(&self, provider: usize) -> u64 {
        self.of_provider(provider)
            .map_or(0, |set| set.copy.generation())
    }

    /// Reads every set from shared data into this VM's copies.
    pub fn sync_all(&mut self, shared: &dyn SharedData) {
        for set in &mut self.sets {
            set.sync(shared);
        }
    }

    /// The remote keys a decision at `now_ms` may use: a key store that knows
    /// only the providers with remote keys.
    pub fn at(&self, now_ms: u64) -> RemoteKeys<'_> {
        RemoteKeys { sets: self, now_ms }
    }
}

/// The remote key sets as a decision sees them at one instant: a set serves
/// while its keys are usable (within their cache duration, or stale within the
/// grace), and none serves a provider with local keys.
#[derive(Clone, Copy)]
pub struct RemoteKeys<'a> {
    sets: &'a RemoteSets,
    now_ms: u64,
}

impl RemoteKeys<'_> {
    /// The instant it serves, Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
}

impl KeyStore for RemoteKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        self.sets.usable_keys(provider, self.now_ms)
    }

    fn generation(&self, provider: usize) -> u64 {
        self.sets.generation(provider)
    }
}

fn freshness(server: &KeyServer) -> Freshness {
    Freshness {
        cache_duration_ms: server.cache_duration_s.saturating_mul(1000),
        timeout_ms: server.timeout_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(uri: &str, timeout_ms: u64, cache_duration_s: u64) -> KeyServer {
        KeyServer {
            uri: uri.into(),
            authority: "idp".into(),
            path: "/keys".into(),
            discovery: false,
            cluster: "jwks".into(),
            timeout_ms,
            cache_duration_s,
        }
    }

    fn provider(name: &str, issuer: &str, server: KeyServer) -> Option<RemoteProvider> {
        Some(RemoteProvider {
            name: name.into(),
            issuer: issuer.into(),
            server,
        })
    }

    #[test]
    fn providers_on_one_key_server_share_one_set_with_the_shortest_timings() {
        let sets = RemoteSets::group(
            "p/r",
            &[
                provider("a", "https://a", server("http://idp/keys", 2_000, 300)),
                None,
                provider("b", "https://b", server("http://idp/keys", 500, 60)),
                provider("c", "https://c", server("http://idp/other", 2_000, 300)),
            ],
        );
        assert_eq!(sets.len(), 2);
        assert_eq!(
            (sets.index_of(0), sets.index_of(1), sets.index_of(2)),
            (Some(0), None, Some(0))
        );
        assert_eq!(sets.index_of(3), Some(1));
        assert_eq!(sets.index_of(4), None);
        let shared = sets.get(0).unwrap();
        assert_eq!(shared.providers, [0, 2]);
        assert_eq!(shared.label, "a, b");
        assert_eq!(shared.first_provider(), 0);
        assert_eq!(
            (
                shared.freshness.timeout_ms,
                shared.freshness.cache_duration_ms
            ),
            (500, 60_000)
        );
        assert!(shared.keys_key.starts_with("audgate;p/r;jwks;"));
        assert_ne!(shared.keys_key, sets.get(1).unwrap().keys_key);
    }

    #[test]
    fn a_discovered_set_is_one_issuers() {
        let mut discovered = server("http://idp/.well-known/openid-configuration", 2_000, 300);
        discovered.discovery = true;
        let sets = RemoteSets::group(
            "p/r",
            &[
                provider("a", "https://a", discovered.clone()),
                provider("b", "https://b", discovered.clone()),
                provider("c", "https://a", discovered),
            ],
        );
        assert_eq!(sets.len(), 2, "one set per issuer");
        assert_eq!(sets.get(0).unwrap().issuer, "https://a");
        assert_eq!(sets.index_of(2), Some(0));
        let plain = RemoteSets::group(
            "p/r",
            &[provider(
                "a",
                "https://a",
                server("http://idp/keys", 2_000, 300),
            )],
        );
        assert_eq!(plain.get(0).unwrap().issuer, "", "no discovery: no issuer");
    }

    #[test]
    fn no_keys_before_the_first_sync() {
        let sets = RemoteSets::group(
            "p/r",
            &[provider(
                "a",
                "https://a",
                server("http://idp/keys", 2_000, 300),
            )],
        );
        assert!(sets.usable_keys(0, 1_000).is_none());
        assert_eq!(sets.generation(0), 0);
        assert!(sets.at(1_000).key_set(0).is_none());
    }
}
