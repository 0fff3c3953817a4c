//! Where an outbound request goes, as the exchange sees it: the first
//! destination whose `hosts` name the request's `:authority` (ASCII case and a
//! trailing dot ignored, the port too unless the entry names one) or whose
//! `clusters` name the cluster Envoy's route chose, and whose `prefix` starts
//! its path. What the token is exchanged for comes from that entry.

use crate::exchange::grant::Target;

/// A `hosts` entry: a host name, lowercase, and perhaps a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName {
    /// The name, lowercase, without a trailing dot.
    pub name: String,
    /// The port it requires; `None`: any port.
    pub port: Option<u16>,
}

/// What picks a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// The request's `:authority`.
    Hosts(Vec<HostName>),
    /// The cluster Envoy's route chose (at a gateway, where routes share one authority).
    Clusters(Vec<String>),
}

/// One `exchange.destinations` entry, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// What picks it.
    pub matcher: Matcher,
    /// The path prefix it covers.
    pub prefix: String,
    /// Sent as `audience`.
    pub audience: Option<String>,
    /// Sent as `resource`.
    pub resource: Option<String>,
    /// Sent as `scope`.
    pub scope: Option<String>,
    /// A request to it without a token is refused.
    pub requires_token: bool,
}

impl Destination {
    /// What the token is exchanged for.
    pub fn target(&self) -> Target<'_> {
        Target {
            audience: self.audience.as_deref(),
            resource: self.resource.as_deref(),
            scope: self.scope.as_deref(),
        }
    }

    /// Its name in stats and logs: the first host, else the first cluster.
    pub fn label(&self) -> &str {
        match &self.matcher {
            Matcher::Hosts(hosts) => hosts.first().map_or("", |host| host.name.as_str()),
            Matcher::Clusters(clusters) => clusters.first().map_or("", String::as_str),
        }
    }

    fn covers(&self, host: (&str, Option<u16>), cluster: Option<&str>, path: &str) -> bool {
        let (name, port) = host;
        let picked = match &self.matcher {
            // Entries are lowercase: the request's name is compared ignoring case.
            Matcher::Hosts(hosts) => hosts.iter().any(|entry| {
                entry.name.eq_ignore_ascii_case(name)
                    && entry.port.is_none_or(|wanted| port == Some(wanted))
            }),
            Matcher::Clusters(clusters) => {
                cluster.is_some_and(|cluster| clusters.iter().any(|name| name == cluster))
            }
        };
        picked && path.starts_with(&self.prefix)
    }
}

/// `authority` as a [`HostName`]: `host`, `host:port`, `[v6]` or `[v6]:port`;
/// `None` when the port is not a number.
pub fn host_name(authority: &str) -> Option<HostName> {
    let (name, port) = host_parts(authority)?;
    Some(HostName {
        name: name.to_ascii_lowercase(),
        port,
    })
}

/// `authority`'s name (as sent, without a trailing dot) and port, borrowed.
fn host_parts(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (address, rest) = v6.split_once(']')?;
            (address, rest.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => None,
    };
    Some((host.strip_suffix('.').unwrap_or(host), port))
}

/// The first of `destinations` the request to `authority` on `path` (with its
/// query), routed to `cluster`, goes to, with its index.
pub fn destination_for<'d>(
    destinations: &'d [Destination],
    authority: &str,
    cluster: Option<&str>,
    path: &str,
) -> Option<(usize, &'d Destination)> {
    let host = host_parts(authority)?;
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    destinations
        .iter()
        .enumerate()
        .find(|(_, destination)| destination.covers(host, cluster, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str], prefix: &str, audience: &str) -> Destination {
        Destination {
            matcher: Matcher::Hosts(names.iter().map(|name| host_name(name).unwrap()).collect()),
            prefix: prefix.into(),
            audience: Some(audience.into()),
            resource: None,
            scope: None,
            requires_token: false,
        }
    }

    fn clusters(names: &[&str], audience: &str) -> Destination {
        Destination {
            matcher: Matcher::Clusters(names.iter().map(|name| name.to_string()).collect()),
            prefix: "/".into(),
            audience: Some(audience.into()),
            resource: None,
            scope: None,
            requires_token: false,
        }
    }

    fn picked(
        list: &[Destination],
        authority: &str,
        cluster: Option<&str>,
        path: &str,
    ) -> Option<usize> {
        destination_for(list, authority, cluster, path).map(|(index, _)| index)
    }

    #[test]
    fn hosts_match_ignoring_case_trailing_dot_and_unnamed_ports() {
        let list = [
            hosts(&["payments.svc"], "/", "payments"),
            hosts(&["ledger:8443"], "/", "ledger"),
        ];
        assert_eq!(picked(&list, "Payments.SVC", None, "/x"), Some(0));
        assert_eq!(picked(&list, "payments.svc.:8080", None, "/x"), Some(0));
        assert_eq!(picked(&list, "ledger:8443", None, "/"), Some(1));
        assert_eq!(
            picked(&list, "ledger:443", None, "/"),
            None,
            "the entry names its port"
        );
        assert_eq!(picked(&list, "ledger", None, "/"), None);
        assert_eq!(picked(&list, "payments.svc.evil", None, "/"), None);
        assert_eq!(
            picked(&list, "payments.svc:x", None, "/"),
            None,
            "not a port"
        );
    }

    #[test]
    fn the_first_entry_whose_prefix_starts_the_path_wins() {
        let list = [
            hosts(&["payments.svc"], "/admin/", "payments-admin"),
            hosts(&["payments.svc"], "/", "payments"),
        ];
        assert_eq!(
            picked(&list, "payments.svc", None, "/admin/refund?x=1"),
            Some(0)
        );
        assert_eq!(
            picked(&list, "payments.svc", None, "/orders?p=/admin/"),
            Some(1)
        );
        let (_, destination) = destination_for(&list, "payments.svc", None, "/admin/x").unwrap();
        assert_eq!(destination.target().audience, Some("payments-admin"));
        assert_eq!(destination.label(), "payments.svc");
    }

    #[test]
    fn clusters_match_the_route_cluster_only() {
        let list = [clusters(&["outbound|8080||payments"], "payments")];
        assert_eq!(
            picked(
                &list,
                "gw.example.com",
                Some("outbound|8080||payments"),
                "/"
            ),
            Some(0)
        );
        assert_eq!(
            picked(&list, "gw.example.com", Some("outbound|8080||orders"), "/"),
            None
        );
        assert_eq!(picked(&list, "gw.example.com", None, "/"), None);
        assert_eq!(list[0].label(), "outbound|8080||payments");
    }

    #[test]
    fn authorities_are_read_as_hosts() {
        assert_eq!(
            host_name("[::1]:8080"),
            Some(HostName {
                name: "::1".into(),
                port: Some(8080)
            })
        );
        assert_eq!(
            host_name("[::1]"),
            Some(HostName {
                name: "::1".into(),
                port: None
            })
        );
        assert_eq!(host_name("[::1"), None);
        assert_eq!(host_name("a:99999"), None);
    }
}
