//! `audgate verify`: builds one request (method, path, authority, headers, token),
//! runs the filter's own decision code on it and prints what the filter would do:
//! answer it (enforce mode), or pass it on with its changes, marked when audit
//! mode would have rejected it.

use std::cell::{OnceCell, RefCell};
use std::time::{SystemTime, UNIX_EPOCH};

use audgate::config::{Config, KeySource, Lookups, Mode};
use audgate::decision::plan::{Action, Change, Plan, Reply};
use audgate::decision::{decide, decide_with_peer, Decision, KeyStore, Verifier};
use audgate::keys::jwks::{parse_jwks_bytes, KeySet, Origin, ParsedJwks};
use audgate::keys::verify::RustCrypto;
use audgate::request::Request;
use audgate::token::extract::token_places;

use crate::fetch::Fetcher;
use crate::flags::Flags;
use crate::introspect::CliIntrospections;
use crate::peer_cert::PeerOptions;
use crate::{plugin_file, token_argument};

/// `audgate verify --help`.
pub const USAGE: &str = "\
usage: audgate verify --config FILE [--jwks FILE|URL] [--cacert FILE] [--method M] [--path P]
                      [--authority A] [--url URL] [--header 'NAME: VALUE']...
                      [--dpop PROOF] [--peer-cert FILE] [--peer-uri-san URI]
                      [--peer-cert-sha256 HEX] [TOKEN | --no-token]

Builds one request, runs the filter's own decision code on it and prints what the
filter would do with it.

  --config FILE       the plugin configuration: JSON, an Istio WasmPlugin YAML or an
                      Envoy bootstrap YAML (the first configuration in the file is used)
  --jwks FILE|URL     the key set for every provider with remote_jwks (a file, or an
                      http:// or https:// URL). Without it, verify fetches each such
                      provider's keys itself, when the request needs them, as the
                      filter does: its remote_jwks.uri, or with discovery: true the
                      issuer's /.well-known/openid-configuration and then its jwks_uri.
                      Where the keys came from is printed on standard error.
  --cacert FILE       trust the CA certificates in this PEM file (instead of the
                      usual roots) for https fetches, e.g. a test or in-house CA
  --method M          the request's :method (default GET)
  --path P            its :path, query included (default /), e.g. '/tenants/acme/orders?limit=5'
  --authority A       its :authority, the realm of challenges (default localhost)
  --url URL           its :scheme, :authority and :path at once, from an absolute
                      http(s) URL (what a DPoP proof's htu names)
  --dpop PROOF        a DPoP proof (RFC 9449) in the request's DPoP header; TOKEN is
                      then sent as 'authorization: DPoP TOKEN'. Make one with
                      'audgate dpop-proof'. A nonce secret (dpop.nonce_secret_env)
                      is read from this command's environment
  --peer-cert FILE    the downstream TLS peer's certificate (PEM): its first URI SAN
                      is what 'caller' compares, the SHA-256 of its DER what a
                      token's cnf.x5t#S256 must name. Without it (and the two below)
                      the request has no TLS peer
  --peer-uri-san URI  the peer's URI SAN (e.g. spiffe://cluster.local/ns/shop/sa/web),
                      in place of the certificate's
  --peer-cert-sha256 HEX
                      the SHA-256 of the peer certificate's DER, 64 hex digits, in
                      place of the certificate's
  --header 'NAME: VALUE'
                      a request header; repeat the option for more headers, or with
                      the same NAME to send that header twice. NAME is lowercased, the
                      VALUE kept as given (blanks around it dropped, as HTTP does)
  TOKEN               sent as 'authorization: Bearer TOKEN' (after the pseudo-headers,
                      before the --headers: with --header 'authorization: …' too, the
                      request has two); '-' reads it from standard input, and a
                      leading 'Bearer ' is ignored
  --no-token          the request has no TOKEN: see what a request without one gets

Without TOKEN, the request must carry its token where the configuration looks for
one (e.g. --header 'cookie: session=TOKEN', --header 'x-partner-token: TOKEN', or a
query parameter in --path), or the command must say --no-token.

The first line printed is what the client gets, and why:
  200 allowed ...                       the request goes upstream; then the headers the
                                        filter removes and sets, and any new :path or cookie
  401|403|503 refused ...               the filter answers the request itself; then the
                                        www-authenticate it sends
  200 (audit: would reject: CODE) ...   \"mode\": \"audit\": the request goes upstream all the
                                        same; then what enforce mode would answer, and the
                                        changes, among them x-audgate-would-reject: CODE

Exit status: 0 when the request goes upstream (allowed, or passed on by audit mode
although it would be rejected), 1 when the filter refuses it, 2 on a usage error,
a configuration the filter would refuse, or keys that could not be fetched (the
filter would answer 503 until it can fetch them).";

/// Options of the command.
struct Options {
    config: String,
    jwks: Option<String>,
    cacert: Option<String>,
    method: String,
    path: String,
    authority: String,
    /// `--header`s, in order, names lowercase, repeats kept.
    headers: Vec<(String, String)>,
    token: Option<String>,
    no_token: bool,
    /// `:scheme`, when `--url` gives one.
    scheme: Option<String>,
    /// `--dpop`: the proof, and the token sent as `DPoP`.
    dpop: Option<String>,
    peer: PeerOptions,
}

/// The command line: options, or a request for the usage text.
enum Command {
    Help,
    Verify(Box<Options>),
}

const SEE_HELP: &str = "'audgate verify --help' lists the options";

fn options(args: &[String]) -> Result<Command, String> {
    let mut options = Options {
        config: String::new(),
        jwks: None,
        cacert: None,
        method: "GET".into(),
        path: "/".into(),
        authority: "localhost".into(),
        headers: Vec::new(),
        token: None,
        no_token: false,
        scheme: None,
        dpop: None,
        peer: PeerOptions::default(),
    };
    // A following option is not a value: `--path --no-token` lacks one.
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        let inline = flag.inline;
        let mut value = |what: &str| flags.value(&flag, what);
        match flag.name {
            "-h" | "--help" => return Ok(Command::Help),
            "--config" => options.config = value("FILE")?,
            "--jwks" => options.jwks = Some(value("FILE|URL")?),
            "--cacert" => options.cacert = Some(value("FILE")?),
            "--method" => options.method = method(&value("METHOD")?)?,
            "--path" => options.path = path(&value("/PATH?QUERY")?)?,
            "--authority" => options.authority = value("HOST")?,
            "--header" => options.headers.push(header(&value("'NAME: VALUE'")?)?),
            "--dpop" => options.dpop = Some(value("PROOF")?),
            "--peer-cert" => options.peer.cert = Some(value("FILE")?),
            "--peer-uri-san" => options.peer.uri_san = Some(value("URI")?),
            "--peer-cert-sha256" => options.peer.cert_sha256 = Some(value("HEX")?),
            "--url" => {
                let url = value("URL")?;
                let (scheme, authority, path) = split_url(&url)?;
                options.scheme = Some(scheme);
                options.authority = authority;
                options.path = path;
            }
            "--no-token" if inline.is_none() => options.no_token = true,
            "--no-token" => return Err("--no-token takes no value".into()),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag} for verify; {SEE_HELP}"))
            }
            token if options.token.is_none() => options.token = Some(token_argument(token)?),
            _ => {
                return Err(format!(
                    "verify takes one TOKEN, and got a second one; a header is given as --header 'NAME: VALUE' (quoted); {SEE_HELP}"
                ))
            }
        }
    }
    if options.config.is_empty() {
        return Err(format!(
            "verify needs --config FILE, the plugin configuration; {SEE_HELP}"
        ));
    }
    if options.no_token && options.token.is_some() {
        return Err("verify takes either a TOKEN or --no-token, not both".into());
    }
    if options.token.as_deref() == Some("") {
        return Err(
            "the TOKEN is empty; for a request without a token, say --no-token instead".into(),
        );
    }
    Ok(Command::Verify(Box::new(options)))
}

/// `--method`: an HTTP method token, kept as given (methods are case-sensitive).
fn method(text: &str) -> Result<String, String> {
    if text.is_empty() || !text.bytes().all(is_tchar) {
        return Err(format!(
            "--method {text}: not an HTTP method (e.g. GET, POST, DELETE)"
        ));
    }
    Ok(text.to_owned())
}

/// `--path`: what Envoy accepts as `:path`, starting with `/`.
pub(crate) fn path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!(
            "--path {text}: a path starts with '/', e.g. --path '/orders/7?limit=5'"
        ));
    }
    if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!(
            "--path {text}: a path holds no spaces or control characters (percent-encode them, e.g. %20)"
        ));
    }
    Ok(text.to_owned())
}

/// `--header 'NAME: VALUE'`: the name lowercased, the value without the blanks around it.
fn header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!(
            "--header '{text}': write a header as 'NAME: VALUE', e.g. --header 'x-tenant: acme'"
        ));
    };
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Err(format!(
            "--header '{text}': no header name before ':'; :method, :path and :authority are set with --method, --path and --authority"
        ));
    }
    if !name.bytes().all(is_tchar) {
        return Err(format!(
            "--header '{text}': '{name}' is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ));
    }
    if name == "host" {
        return Err(format!(
            "--header '{text}': give the host as --authority (Envoy reads a Host header as :authority)"
        ));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err(format!(
            "--header '{text}': the header has no value; quote the whole header, e.g. --header '{name}: VALUE'"
        ));
    }
    if value.bytes().any(|b| b != b'\t' && (b < 0x20 || b == 0x7f)) {
        return Err(format!(
            "--header '{name}: …': a header value holds no line breaks or other control characters"
        ));
    }
    Ok((name, value.to_owned()))
}

/// A character of an HTTP token (RFC 9110 5.6.2): header names and methods.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Keys from the config; for remote providers `--jwks`, or else each one's own
/// `remote_jwks`, fetched when the decision first asks for them.
struct CliKeys<'a> {
    config: &'a Config,
    /// `--jwks`: the keys of every remote provider.
    given: Option<KeySet>,
    fetcher: Fetcher,
    /// Per provider, what its fetch gave (`None`: no keys).
    fetched: Vec<OnceCell<Option<KeySet>>>,
    /// Why fetches gave no keys.
    failures: RefCell<Vec<String>>,
}

impl KeyStore for CliKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        let entry = self.config.providers.get(provider)?;
        match &entry.keys {
            KeySource::Local(set) => Some(set),
            KeySource::Introspection(_) => None,
            KeySource::Remote(_) if self.given.is_some() => self.given.as_ref(),
            KeySource::Remote(remote) => self
                .fetched
                .get(provider)?
                .get_or_init(|| match self.fetcher.provider(entry, remote) {
                    Ok(fetched) => {
                        let from = format!("provider {}: keys from {}", entry.name, fetched.from);
                        say_keys(&from, &fetched.parsed);
                        Some(fetched.parsed.set)
                    }
                    Err(error) => {
                        let failure = format!("provider {}: {error}", entry.name);
                        self.failures.borrow_mut().push(failure);
                        None
                    }
                })
                .as_ref(),
        }
    }
}

/// On standard error: how many keys came from where, and each skipped key.
fn say_keys(from: &str, parsed: &ParsedJwks) {
    errln!("audgate: {from} ({} usable)", parsed.set.keys().len());
    for skipped in &parsed.skipped {
        errln!(
            "audgate:   key {} ({}) skipped: {}",
            skipped.index,
            skipped.kid.as_deref().unwrap_or("no kid"),
            skipped.reason
        );
    }
}

/// Runs the command; `Ok(false)` when the filter would refuse the request.
pub fn run(args: &[String]) -> Result<bool, String> {
    let options = match options(args)? {
        Command::Help => {
            outln!("{USAGE}");
            return Ok(true);
        }
        Command::Verify(options) => options,
    };
    let found = plugin_file::read(&options.config)?;
    let [first, ..] = found.as_slice() else {
        return Err("no configuration found".into());
    };
    if found.len() > 1 {
        errln!(
            "audgate: {} configurations in the file; using {}",
            found.len(),
            first.label
        );
    }
    let json = first
        .json
        .as_ref()
        .map_err(|e| format!("{}: {e}", first.label))?;
    // Secrets (`*_env`) from this command's environment, as a VM's from its own.
    let env = |name: &str| std::env::var(name).ok();
    let lookups = Lookups {
        node: &|_| None,
        env: &env,
    };
    let config = Config::from_json_in(json.as_bytes(), &lookups).map_err(|e| {
        format!(
            "{}: the filter would refuse this configuration: {e}",
            first.label
        )
    })?;
    let fetcher = Fetcher::new(options.cacert.as_deref())?;
    let given = match &options.jwks {
        None => None,
        Some(source) => {
            let parsed = load(&fetcher, source)?;
            say_keys(
                &format!("keys of every remote_jwks provider from --jwks {source}"),
                &parsed,
            );
            Some(parsed.set)
        }
    };
    // As Envoy hands them to the filter: pseudo-headers first, names lowercase.
    let mut headers = vec![
        (":method".to_owned(), options.method.clone()),
        (":path".to_owned(), options.path.clone()),
        (":authority".to_owned(), options.authority.clone()),
    ];
    if let Some(scheme) = &options.scheme {
        headers.push((":scheme".to_owned(), scheme.clone()));
    }
    let scheme = if options.dpop.is_some() {
        "DPoP"
    } else {
        "Bearer"
    };
    if let Some(token) = &options.token {
        headers.push(("authorization".to_owned(), format!("{scheme} {token}")));
    }
    if let Some(proof) = &options.dpop {
        headers.push(("dpop".to_owned(), proof.clone()));
    }
    headers.extend(options.headers.iter().cloned());
    let request = Request {
        method: &options.method,
        path: &options.path,
        authority: &options.authority,
        headers: &headers,
    };
    let carries_token = config
        .providers
        .iter()
        .any(|provider| !token_places(provider.token_sources(), &request).is_empty());
    if options.token.is_none() && !options.no_token && !carries_token {
        return Err(format!(
            "the request carries no token: give a TOKEN (sent as 'authorization: Bearer TOKEN'), \
             a --header that holds one where the configuration looks for it, \
             or --no-token to see what a request without a token gets; {SEE_HELP}"
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let keys = CliKeys {
        config: &config,
        given,
        fetcher,
        fetched: config.providers.iter().map(|_| OnceCell::new()).collect(),
        failures: RefCell::new(Vec::new()),
    };
    let peer = options.peer.peer()?;
    let verifier = Verifier {
        keys: &keys,
        signatures: &RustCrypto,
        cache: None,
        introspections: &CliIntrospections::new(&config, options.cacert.as_deref()),
        now,
    };
    let decision = if options.peer.any() {
        decide_with_peer(&config, &request, &verifier, &peer)
    } else {
        decide(&config, &request, &verifier)
    };
    let failures = keys.failures.into_inner();
    if !failures.is_empty() {
        return Err(format!(
            "{}\nthe filter would answer 503 until it can fetch them; --jwks FILE|URL gives verify the keys another way",
            failures.join("\n")
        ));
    }
    outln!(
        "{}",
        report(&config, &options.authority, &decision).trim_end()
    );
    Ok(decision.verdict.is_ok() || config.mode == Mode::Audit)
}

/// What the filter does with the request: the [`Plan`] the filter carries out,
/// printed.
fn report(config: &Config, authority: &str, decision: &Decision) -> String {
    let provider = decision
        .provider
        .and_then(|index| config.providers.get(index))
        .map(|p| p.name.as_str());
    let removed = decision.mutations.removed_cookies.join(", ");
    let mut out = String::new();
    let plan = Plan::of(decision, config.mode, authority);
    let response_headers = plan.response_headers.clone();
    match (decision.verdict, plan.action) {
        (Ok(()), Action::Continue(changes)) => {
            let by = provider.map_or("no token checked".to_owned(), |name| {
                format!("provider {name}")
            });
            out.push_str(&format!("200 allowed ({by}): the request goes upstream\n"));
            print_changes(&mut out, &changes, &removed);
        }
        (Err(rejection), Action::Continue(changes)) => {
            let code = rejection.code();
            out.push_str(&format!(
                "200 (audit: would reject: {code}): the request goes upstream all the same (provider {})\n",
                provider.unwrap_or("-")
            ));
            let dpop = decision.dpop.as_ref().map(|dpop| &dpop.challenge);
            let enforced = Reply::challenged(rejection, authority, dpop, &decision.hints);
            out.push_str(&format!(
                "  in enforce mode: {} {rejection}\n",
                enforced.status
            ));
            for challenge in &enforced.challenges {
                out.push_str(&format!(
                    "  in enforce mode: www-authenticate: {challenge}\n"
                ));
            }
            unmet(&mut out, decision);
            facts(&mut out, decision);
            print_changes(&mut out, &changes, &removed);
        }
        (Err(rejection), Action::Respond(reply)) => {
            out.push_str(&format!(
                "{} refused (provider {}): {rejection} [{}]\n",
                reply.status,
                provider.unwrap_or("-"),
                rejection.code()
            ));
            for challenge in &reply.challenges {
                out.push_str(&format!("  www-authenticate: {challenge}\n"));
            }
            unmet(&mut out, decision);
            facts(&mut out, decision);
        }
        // A decision is never held (its keys are fetched first) nor answered
        // locally when it passes.
        (_, Action::Hold(_)) | (Ok(()), Action::Respond(_)) => {}
    }
    for (name, value) in response_headers {
        out.push_str(&format!("  response header {name}: {value}\n"));
    }
    out
}

/// The requirement a token refused for unmet claims did not meet, as
/// configured (never the token's value).
fn unmet(out: &mut String, decision: &Decision) {
    if let Some(unmet) = &decision.unmet {
        out.push_str(&format!("  claim not met: {unmet}\n"));
    }
}

/// `scheme://authority/path?query` of an absolute http(s) URL (the path `/`
/// when it has none; a fragment dropped).
fn split_url(url: &str) -> Result<(String, String, String), String> {
    let bad = || {
        format!("--url {url}: write an absolute http(s) URL, e.g. https://api.example.com/orders")
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => (&rest[..at], rest[at..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    if authority.is_empty() {
        return Err(bad());
    }
    Ok((scheme, authority.to_owned(), path))
}

/// What the refused token said about itself.
fn facts(out: &mut String, decision: &Decision) {
    if let Some(facts) = &decision.facts {
        out.push_str(&format!("  token: {facts}\n"));
    }
}

/// The request's changes, in the order the filter makes them (audit mode's
/// `x-audgate-would-reject` last); `removed` names the cookies taken out of `cookie`.
fn print_changes(out: &mut String, changes: &[Change], removed: &str) {
    for change in changes {
        match change {
            Change::Remove(name) if name == "cookie" => {
                out.push_str(&format!("  removes cookie  (it held only {removed})\n"))
            }
            Change::Remove(name) => out.push_str(&format!("  removes {name}\n")),
            Change::Set(name, cookie) if name == "cookie" => {
                out.push_str(&format!("  sets cookie: {cookie}  (without {removed})\n"))
            }
            Change::Set(name, value) => out.push_str(&format!("  sets {name}: {value}\n")),
        }
    }
}

/// The `--jwks` key set: a file, or an http(s) URL.
fn load(fetcher: &Fetcher, source: &str) -> Result<ParsedJwks, String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return fetcher
            .jwks(source)
            .map(|fetched| fetched.parsed)
            .map_err(|e| format!("--jwks {e}"));
    }
    let body = std::fs::read(source).map_err(|e| format!("--jwks {source}: {e}"))?;
    parse_jwks_bytes(&body, Origin::Remote).map_err(|e| format!("--jwks {source}: {e}"))
}
