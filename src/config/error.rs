//! Why a plugin configuration was refused, and which field is at fault.

use std::fmt;

use crate::jwks::JwksError;
use crate::placeholder::PlaceholderError;
use crate::template::TemplateError;

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
    /// The JSON does not have the contract's shape (the parser's own words).
    Shape(String),
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
    /// A provider has neither or both of `remote_jwks` and `local_jwks`.
    KeySource,
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
    /// `local_jwks` holds no key this provider can use.
    NoUsableKey,
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
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotUtf8 => f.write_str("configuration is not UTF-8"),
            Problem::Shape(message) => write!(f, "{message}"),
            Problem::Empty => f.write_str("must not be empty"),
            Problem::TooMany { max } => write!(f, "at most {max} entries"),
            Problem::OutOfRange { min, max } => write!(f, "must be in {min}..={max}"),
            Problem::InvalidName => {
                f.write_str("must match [A-Za-z0-9_.-]{1,64} and not be the word \"none\"")
            }
            Problem::Duplicate(name) => write!(f, "duplicate \"{name}\""),
            Problem::KeySource => f.write_str("exactly one of remote_jwks and local_jwks"),
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
            Problem::NoUsableKey => f.write_str("holds no usable key"),
            Problem::Template(error) => write!(f, "{error}"),
            Problem::Placeholder(error) => write!(f, "{error}"),
            Problem::RequiresShape => f.write_str(
                "expected \"none\", a provider name, {\"provider\": ...}, {\"any\": [...]} or {\"all\": [...]}",
            ),
            Problem::NoneInGroup => f.write_str("\"none\" cannot be one of any/all: use requires: \"none\""),
            Problem::UnknownField(known) => {
                write!(f, "unknown field; expected one of {}", known.join(", "))
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
            Problem::UnknownPathVariable(name) => write!(
                f,
                "${{path.{name}}}: the rule's match.template has no variable {{{name}}}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
