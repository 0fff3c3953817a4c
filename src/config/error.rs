//! Why a plugin configuration was refused, and which field is at fault.

use std::fmt;

use crate::keys::jwks::{JwksError, SkipReason, Skipped};
use crate::policy::placeholder::PlaceholderError;
use crate::policy::template::TemplateError;

/// A refused configuration: the offending field's path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the field, e.g. `providers[0].audiences`.
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a configuration field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The configuration is not UTF-8 text.
    NotUtf8,
    /// The text is not JSON: the parser's words, with its line and column.
    NotJson(String),
    /// A value of the wrong kind: what the field takes, and what it got (e.g.
    /// `the string "5"`).
    WrongType {
        /// What the field takes.
        expected: Expected,
        /// What was found, in words.
        found: String,
    },
    /// A negative number where a whole number 0 or more is needed.
    Negative(String),
    /// `mode` is neither `"enforce"` nor `"audit"`; what it is, in words, when
    /// the parser says.
    Mode(Option<String>),
    /// A field given twice in one object.
    DuplicateField,
    /// A field this object does not have (from the parser): its name and the
    /// fields the object has.
    NoSuchField {
        /// The unknown field.
        name: String,
        /// The fields of this object.
        known: Vec<String>,
    },
    /// A value the field does not take (a parser complaint of no known kind).
    BadValue,
    /// A list or string that must not be empty is empty.
    Empty,
    /// A list is longer than the contract allows.
    TooMany {
        /// The most allowed.
        max: usize,
    },
    /// A number is outside the contract's range.
    OutOfRange {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A provider name outside `[A-Za-z0-9_.-]{1,64}`, or the reserved word `none`.
    InvalidName,
    /// A name that must be unique appears twice.
    Duplicate(String),
    /// A provider has not exactly one of `remote_jwks`, `local_jwks` and
    /// `introspection`.
    KeySource,
    /// `token_types` (a JOSE header check) with `introspection` (no header).
    TokenTypesWithIntrospection,
    /// A requirement names two providers with `introspection`: their names.
    TwoIntrospections(String, String),
    /// A word for a challenge or the metadata document that is empty or holds
    /// a space, quote, backslash or control character.
    Word,
    /// `resource_metadata.resource` is not an absolute https URL without query
    /// or fragment.
    NotHttpsResource,
    /// Not an absolute http(s) URI.
    InvalidUri,
    /// A rule names a provider that does not exist.
    UnknownProvider(String),
    /// An algorithm name that is not a supported JWS algorithm.
    UnknownAlgorithm(String),
    /// `none` is never an accepted algorithm.
    AlgorithmNone,
    /// Not a valid HTTP header name (or a pseudo-header).
    InvalidHeaderName,
    /// A path match that does not start with `/`.
    InvalidPath,
    /// Not a valid HTTP method token.
    InvalidMethod,
    /// A rule `match` needs exactly one of `prefix` and `path`.
    MatchKind,
    /// `requires` needs exactly one of `any` and `all`.
    RequiresKind,
    /// A provider looks for its token nowhere.
    NoTokenSource,
    /// `local_jwks` is not a usable key set.
    Jwks(JwksError),
    /// `local_jwks` holds no key this provider can use: each key skipped, and why.
    NoUsableKey(Vec<Skipped>),
    /// A `match.template` that is not a valid URI template.
    Template(TemplateError),
    /// A `${…}` that is unknown here or cannot be filled.
    Placeholder(PlaceholderError),
    /// `requires` (or an entry of `any`/`all`) of no known shape.
    RequiresShape,
    /// `"none"` inside `any` or `all`.
    NoneInGroup,
    /// A field this object does not have; the ones it has.
    UnknownField(Vec<&'static str>),
    /// A value that must be a string is not.
    NotAString,
    /// A required field is missing.
    Required,
    /// A value that must be a list of strings is not.
    ListOfStrings,
    /// `claims` is not an object of claim requirements.
    ClaimsShape,
    /// A claim requirement that is neither a string, a list of strings, nor `{"one_of": [...]}`.
    ClaimValueShape,
    /// `${path.NAME}` where the rule's template has no variable `NAME`.
    UnknownPathVariable(String),
    /// `remote_jwks` gives both `uri` and `discovery: true`.
    UriWithDiscovery,
    /// `discovery: true` with an `issuer` that is not an absolute http(s) URI.
    IssuerNotUri,
    /// Neither `providers` nor `exchange` is given.
    NothingConfigured,
    /// Not one of the words the field takes (listed).
    OneOf(&'static [&'static str]),
    /// Not an environment variable name.
    EnvName,
    /// The VM's environment has no such variable, or it is empty.
    EnvMissing(String),
    /// `client_secret_env` without `client_id`.
    SecretWithoutClientId,
    /// A destination needs exactly one of `hosts` and `clusters`.
    DestinationMatch,
    /// A destination needs `audience`, `resource` or both.
    DestinationTarget,
    /// Not a host name, optionally with `:port`.
    InvalidHost,
    /// Not an absolute URI.
    NotAbsoluteUri,
    /// A value with a character that cannot go into a form field or header.
    ControlCharacter,
    /// A cluster name with `;` or a control character (it names a stat tag).
    ClusterName,
    /// An `HS*` algorithm where only a public key can verify (a DPoP proof).
    SymmetricProof(String),
    /// Not an origin: an absolute http(s) URI with no path, query or fragment.
    NotAnOrigin,
    /// A secret in the environment shorter than it must be: the variable, and
    /// the fewest bytes.
    SecretTooShort {
        /// The environment variable.
        name: String,
        /// The fewest bytes.
        min: usize,
    },
}

/// The kind of value a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A JSON object (`{...}`; in YAML, a mapping).
    Object,
    /// A list (`[...]`).
    List,
    /// A string.
    String,
    /// A whole number, 0 or more.
    WholeNumber,
    /// `true` or `false`.
    Bool,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::Object => "an object",
            Expected::List => "a list",
            Expected::String => "a string",
            Expected::WholeNumber => "a whole number",
            Expected::Bool => "true or false",
        })
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            // The unknown name is the last segment of the field's path.
            Problem::UnknownField(known) => {
                let dot = self.field.bytes().rposition(|b| b == b'.');
                let name = dot
                    .and_then(|dot| self.field.get(dot.saturating_add(1)..))
                    .unwrap_or(&self.field);
                write!(f, "{}: {}", self.field, unknown_field(name, known))
            }
            problem => write!(f, "{}: {problem}", self.field),
        }
    }
}

/// "unknown field; did you mean audiences?" when a known field is close to
/// `name` (by edit distance), else the list of known fields.
fn unknown_field<S: AsRef<str>>(name: &str, known: &[S]) -> String {
    match closest(name, known) {
        Some(close) => format!("unknown field; did you mean {close}?"),
        None => format!(
            "unknown field; the fields here are {}",
            known
                .iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The entry of `known` nearest to `name` (ignoring case, `-` as `_`), if it is
/// within a third of `name`'s length (1 to 3 edits).
pub(super) fn closest<'k, S: AsRef<str>>(name: &str, known: &'k [S]) -> Option<&'k str> {
    let limit = (name.len() / 3).clamp(1, 3);
    known
        .iter()
        .map(|candidate| {
            let candidate = candidate.as_ref();
            (
                edit_distance(name.as_bytes(), candidate.as_bytes()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance of field names, bytewise, ignoring ASCII case and
/// taking `-` for `_`.
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let same = |x: u8, y: u8| {
        let normal = |c: u8| {
            if c == b'-' {
                b'_'
            } else {
                c.to_ascii_lowercase()
            }
        };
        normal(x) == normal(y)
    };
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut current = vec![i.saturating_add(1)];
        for (pair, &cb) in previous.windows(2).zip(b) {
            let [diagonal, above] =
                [pair.first(), pair.last()].map(|d| d.copied().unwrap_or(usize::MAX));
            let left = current.last().copied().unwrap_or(usize::MAX);
            let cost = diagonal
                .saturating_add(usize::from(!same(ca, cb)))
                .min(above.saturating_add(1))
                .min(left.saturating_add(1));
            current.push(cost);
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(usize::MAX)
}

/// Each skipped key of a `local_jwks` with no usable one: index, kid, reason.
fn skipped_keys(f: &mut fmt::Formatter<'_>, skipped: &[Skipped]) -> fmt::Result {
    const SHOWN: usize = 8;
    if skipped.is_empty() {
        return f.write_str(": its \"keys\" list is empty");
    }
    for (n, key) in skipped.iter().take(SHOWN).enumerate() {
        let kid = key
            .kid
            .as_deref()
            .map_or("no kid".to_owned(), |kid| format!("kid \"{kid}\""));
        let separator = if n == 0 { ": " } else { "; " };
        write!(f, "{separator}key {} ({kid}): {}", key.index, key.reason)?;
    }
    if skipped.len() > SHOWN {
        write!(f, "; and {} more", skipped.len().saturating_sub(SHOWN))?;
    }
    if skipped
        .iter()
        .any(|key| key.reason == SkipReason::SecretNotAllowed)
    {
        f.write_str(" (an oct key is used only when algorithms names HS256, HS384 or HS512)")?;
    }
    Ok(())
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotUtf8 => f.write_str("configuration is not UTF-8"),
            Problem::NotJson(message) => write!(f, "not valid JSON: {message}"),
            Problem::WrongType { expected, found } => {
                write!(f, "must be {expected}, not {found}")?;
                match expected {
                    Expected::List => f.write_str(" (write [\"...\"], or in YAML one \"- ...\" a line)"),
                    Expected::WholeNumber => f.write_str(" (write digits without quotes or units, e.g. 300)"),
                    Expected::Bool => f.write_str(" (without quotes)"),
                    Expected::Object | Expected::String => Ok(()),
                }
            }
            Problem::Negative(found) => write!(f, "must be a whole number 0 or more, not {found}"),
            Problem::Mode(found) => {
                f.write_str("must be \"enforce\" or \"audit\"")?;
                match found {
                    Some(found) => write!(f, ", not {found}"),
                    None => Ok(()),
                }
            }
            Problem::DuplicateField => f.write_str("given twice in the same object: keep one"),
            Problem::NoSuchField { name, known } => f.write_str(&unknown_field(name, known)),
            Problem::BadValue => f.write_str(
                "not a value this field takes (docs/configuration.md lists what each field takes)",
            ),
            Problem::Empty => f.write_str("must not be empty"),
            Problem::TooMany { max } => write!(f, "at most {max} entries"),
            Problem::OutOfRange { min, max } => write!(f, "must be in {min}..={max}"),
            Problem::InvalidName => {
                f.write_str("must match [A-Za-z0-9_.-]{1,64} and not be the word \"none\"")
            }
            Problem::Duplicate(name) => write!(f, "duplicate \"{name}\""),
            Problem::KeySource => {
                f.write_str("needs exactly one of remote_jwks, local_jwks and introspection")
            }
            Problem::TokenTypesWithIntrospection => f.write_str(
                "token_types checks a JWT's header, and an introspected token has none: remove token_types or introspection",
            ),
            Problem::Word => f.write_str(
                "must be non-empty, without spaces, quotes, backslashes or control characters",
            ),
            Problem::NotHttpsResource => f.write_str(
                "must be an absolute https URL without query or fragment: the service's public URL, one of its audiences",
            ),
            Problem::TwoIntrospections(first, second) => write!(
                f,
                "names two providers with introspection ({first} and {second}): a token would be sent to an authorization server not its own; give each its own rule"
            ),
            Problem::InvalidUri => f.write_str("must be an absolute http or https URI"),
            Problem::UnknownProvider(name) => write!(f, "no provider named \"{name}\""),
            Problem::UnknownAlgorithm(name) => write!(f, "unknown algorithm \"{name}\""),
            Problem::AlgorithmNone => f.write_str("\"none\" is never accepted"),
            Problem::InvalidHeaderName => f.write_str("not a valid header name"),
            Problem::InvalidPath => f.write_str("must start with \"/\""),
            Problem::InvalidMethod => f.write_str("not a valid HTTP method"),
            Problem::MatchKind => f.write_str("exactly one of prefix, path and template"),
            Problem::RequiresKind => f.write_str("exactly one of any and all"),
            Problem::NoTokenSource => {
                f.write_str("from_headers, from_params and from_cookies are all empty")
            }
            Problem::Jwks(error) => write!(f, "{error}"),
            Problem::NoUsableKey(skipped) => {
                f.write_str("holds no usable key")?;
                skipped_keys(f, skipped)
            }
            Problem::Template(error) => write!(f, "{error}"),
            Problem::Placeholder(error) => write!(f, "{error}"),
            Problem::RequiresShape => f.write_str(
                "expected \"none\", a provider name, {\"provider\": ...}, {\"any\": [...]} or {\"all\": [...]}",
            ),
            Problem::NoneInGroup => f.write_str("\"none\" cannot be one of any/all: use requires: \"none\""),
            Problem::UnknownField(known) => {
                write!(f, "unknown field; the fields here are {}", known.join(", "))
            }
            Problem::NotAString => f.write_str("must be a string"),
            Problem::Required => f.write_str("is required"),
            Problem::ListOfStrings => f.write_str("must be a list of strings"),
            Problem::ClaimsShape => f.write_str("must be an object: claim name → requirement"),
            Problem::ClaimValueShape => f.write_str(
                "expected a string, a list of strings or {\"one_of\": [strings]}",
            ),
            Problem::UriWithDiscovery => f.write_str(
                "give either uri or discovery: true (which finds the keys from the issuer)",
            ),
            Problem::IssuerNotUri => f.write_str(
                "discovery needs an issuer that is an absolute https URI (its /.well-known/openid-configuration is fetched)",
            ),
            Problem::NothingConfigured => f.write_str(
                "is required: give providers (tokens this workload receives), exchange (tokens it sends on), or both",
            ),
            Problem::OneOf(words) => {
                let quoted: Vec<String> = words.iter().map(|word| format!("\"{word}\"")).collect();
                write!(f, "must be one of {}", quoted.join(", "))
            }
            Problem::EnvName => f.write_str(
                "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*): the secret itself never goes into the plugin configuration",
            ),
            Problem::EnvMissing(name) => write!(
                f,
                "the VM's environment has no variable {name} (or it is empty): set it in vm_config.environment_variables (Istio: WasmPlugin spec.vmConfig.env, valueFrom: HOST with a Kubernetes Secret)"
            ),
            Problem::SecretWithoutClientId => {
                f.write_str("needs client_id: the secret is this client's")
            }
            Problem::DestinationMatch => f.write_str(
                "exactly one of hosts (the request's :authority) and clusters (the cluster Envoy's route chose)",
            ),
            Problem::DestinationTarget => f.write_str(
                "needs audience, resource or both: what the exchanged token is asked for",
            ),
            Problem::InvalidHost => {
                f.write_str("must be a host name, optionally with :port (e.g. payments.shop.svc:8080)")
            }
            Problem::NotAbsoluteUri => {
                f.write_str("must be an absolute URI (scheme:rest, no fragment), e.g. https://payments.example")
            }
            Problem::ClusterName => f.write_str(
                "must be an Envoy cluster name without ';' or control characters",
            ),
            Problem::ControlCharacter => {
                f.write_str("must be printable text without control characters")
            }
            Problem::UnknownPathVariable(name) => write!(
                f,
                "${{path.{name}}}: the rule's match.template has no variable {{{name}}}"
            ),
            Problem::SymmetricProof(name) => write!(
                f,
                "{name} is not accepted for DPoP proofs: a proof carries a public key, so only ES256, ES384, RS256..RS512, PS256..PS512 and EdDSA can verify one"
            ),
            Problem::NotAnOrigin => f.write_str(
                "must be an origin: scheme and host, optionally a port, with no path, e.g. https://api.example.com",
            ),
            Problem::SecretTooShort { name, min } => write!(
                f,
                "the secret in {name} must be at least {min} bytes (e.g. openssl rand -base64 48)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// `Err` of a [`ConfigError`] at `field`.
pub(crate) fn fail<T>(field: impl Into<String>, problem: Problem) -> Result<T, ConfigError> {
    Err(ConfigError {
        field: field.into(),
        problem,
    })
}

pub(crate) fn in_range(
    field: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return fail(field, Problem::OutOfRange { min, max });
    }
    Ok(value)
}
