//! What a proof's `htu` must name: an origin followed by the request's path,
//! compared after RFC 3986 §6.2.2–6.2.3 normalisation (scheme and host
//! lower-cased, a default port dropped, escapes of unreserved characters decoded
//! and the others' hex upper-cased, dot segments removed, an empty path `/`),
//! without query or fragment on either side.

use std::fmt::Write;

/// An absolute `http(s)` URI normalised, without its query and fragment;
/// `None` for anything else (another scheme, no host, user information, a bad
/// port or escape).
pub fn normalise(uri: &str) -> Option<String> {
    let uri = uri.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let origin = origin(&scheme, authority, default_port)?;
    Some(origin + &normalise_path(path)?)
}

/// `scheme://host[:port]` with the host lower-cased and a default or empty
/// port dropped.
fn origin(scheme: &str, authority: &str, default_port: &str) -> Option<String> {
    if authority.contains('@') {
        return None;
    }
    // An IPv6 literal's colons are not a port's.
    let port_colon = match authority.rfind(']') {
        Some(close) => authority
            .get(close..)?
            .find(':')
            .and_then(|at| at.checked_add(close)),
        None => authority.rfind(':'),
    };
    let (host, port) = match port_colon {
        Some(colon) => (authority.get(..colon)?, authority.get(colon..)?.get(1..)?),
        None => (authority, ""),
    };
    if host.is_empty() || !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let mut origin = format!("{scheme}://{}", host.to_ascii_lowercase());
    if !port.is_empty() && port != default_port {
        origin.push(':');
        origin.push_str(port);
    }
    Some(origin)
}

/// `path` with escapes normalised and dot segments removed (RFC 3986 §5.2.4);
/// `None` for a `%` not followed by two hex digits.
pub fn normalise_path(path: &str) -> Option<String> {
    // A request path is ASCII (Envoy refuses others), and so must `htu` be.
    if !path.is_ascii() {
        return None;
    }
    let mut escaped = String::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            escaped.push(char::from(byte));
            continue;
        }
        let high = hex(bytes.next()?)?;
        let low = hex(bytes.next()?)?;
        let decoded = (high << 4) | low;
        if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
            escaped.push(char::from(decoded));
        } else {
            write!(escaped, "%{decoded:02X}").ok()?;
        }
    }
    let resolved = remove_dot_segments(&escaped);
    Some(if resolved.is_empty() {
        "/".to_owned()
    } else {
        resolved
    })
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// RFC 3986 §5.2.4 on a path of segments: `.` dropped, `..` drops the segment
/// before it (never above the root); a trailing `.` or `..` leaves a `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." => {
                if *segment == ".." && kept.len() > 1 {
                    kept.pop();
                }
                if index == last {
                    kept.push("");
                }
            }
            other => kept.push(other),
        }
    }
    kept.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(uri: &str) -> Option<String> {
        normalise(uri)
    }

    #[test]
    fn scheme_and_host_lowercased_default_port_dropped() {
        let want = Some("https://api.example.com/orders".to_owned());
        assert_eq!(n("HTTPS://API.Example.COM/orders"), want);
        assert_eq!(n("https://api.example.com:443/orders"), want);
        assert_eq!(n("https://api.example.com:/orders"), want);
        assert_eq!(
            n("https://api.example.com:8443/orders").as_deref(),
            Some("https://api.example.com:8443/orders")
        );
        assert_eq!(
            n("http://h:443/").as_deref(),
            Some("http://h:443/"),
            "443 is https's default, not http's"
        );
        assert_eq!(n("http://h:80").as_deref(), Some("http://h/"));
    }

    #[test]
    fn the_path_is_case_sensitive_but_escapes_are_normalised() {
        assert_eq!(n("https://h/Orders"), Some("https://h/Orders".into()));
        assert_eq!(
            n("https://h/%7euser/%61b"),
            Some("https://h/~user/ab".into())
        );
        assert_eq!(n("https://h/a%2fb%3a"), Some("https://h/a%2Fb%3A".into()));
        assert_eq!(n("https://h/a%2"), None);
        assert_eq!(n("https://h/a%zz"), None);
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(n("https://h/a/./b/../c"), Some("https://h/a/c".into()));
        assert_eq!(n("https://h/../../a"), Some("https://h/a".into()));
        assert_eq!(n("https://h/a/b/.."), Some("https://h/a/".into()));
        assert_eq!(n("https://h/a/%2E%2E/b"), Some("https://h/b".into()));
    }

    #[test]
    fn query_and_fragment_are_dropped() {
        assert_eq!(n("https://h/a?x=1#f"), Some("https://h/a".into()));
        assert_eq!(n("https://h?x"), Some("https://h/".into()));
    }

    #[test]
    fn what_is_not_an_http_origin_is_refused() {
        for bad in [
            "ftp://h/a",
            "/a",
            "https:///a",
            "https://user@h/a",
            "https://h:8x/a",
            "https://h/ä",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }

    #[test]
    fn ipv6_literals_keep_their_colons() {
        assert_eq!(n("https://[::1]:443/a"), Some("https://[::1]/a".into()));
        assert_eq!(
            n("https://[::1]:8443/a"),
            Some("https://[::1]:8443/a".into())
        );
        assert_eq!(n("https://[::1]/a"), Some("https://[::1]/a".into()));
    }
}
