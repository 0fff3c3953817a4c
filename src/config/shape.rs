//! A parser error in the user's words: the field's path and what it takes, never
//! the parser's type names.

use super::error::Expected;
use super::{ConfigError, Problem};

/// A parser error in the user's words: the field's path and what it takes,
/// without the parser's type names. Line and column only for text that is not
/// JSON at all (a field's path says where, and for YAML turned into JSON the
/// parser's positions would point into text the user never wrote).
pub(super) fn shape_error(error: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let full = inner.to_string();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&position).unwrap_or(&full);
    let at = |name: &str| match path.as_str() {
        "." | "?" => name.to_owned(),
        parent => format!("{parent}.{name}"),
    };
    let here = match path.as_str() {
        "." | "?" => "configuration".to_owned(),
        field => field.to_owned(),
    };
    let fail = |field: String, problem| ConfigError { field, problem };
    let in_mode = here == "mode" || here.starts_with("mode.");
    // The parser calls a number or a list where `mode` is wanted a syntax
    // error ("expected value"); any other is one, and its position is right.
    if (inner.is_syntax() || inner.is_eof()) && !(in_mode && message == "expected value") {
        return fail("configuration".into(), Problem::NotJson(full));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return fail(at(&quoted_names(rest).concat()), Problem::Required);
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        return fail(at(&quoted_names(rest).concat()), Problem::DuplicateField);
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let mut names = quoted_names(rest).into_iter();
        let name = names.next().unwrap_or_default();
        let known = names.collect();
        return fail(here, Problem::NoSuchField { name, known });
    }
    if in_mode {
        let found = match message.strip_prefix("unknown variant ") {
            _ if here != "mode" => Some("an object".to_owned()),
            Some(rest) => quoted_names(rest)
                .first()
                .map(|name| cut(format!("the string {name:?}"))),
            None => None,
        };
        return fail("mode".into(), Problem::Mode(found));
    }
    if message.starts_with("invalid length ") {
        let found = "a list".to_owned();
        return fail(
            here,
            Problem::WrongType {
                expected: Expected::Object,
                found,
            },
        );
    }
    if let Some((found, expected)) = message
        .strip_prefix("invalid value: ")
        .and_then(|rest| split_last(rest, ", expected "))
    {
        let problem = match (unexpected_words(found), expected) {
            (words, "u64") if words.starts_with("the number -") => Problem::Negative(
                words
                    .strip_prefix("the number ")
                    .unwrap_or(&words)
                    .to_owned(),
            ),
            _ => Problem::BadValue,
        };
        return fail(here, problem);
    }
    if let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| split_last(rest, ", expected "))
    {
        let expected = match expected {
            "a map" => Some(Expected::Object),
            "a sequence" => Some(Expected::List),
            "a string" => Some(Expected::String),
            "a boolean" => Some(Expected::Bool),
            "u64" | "u32" | "usize" => Some(Expected::WholeNumber),
            other if other.starts_with("struct ") => Some(Expected::Object),
            _ => None,
        };
        if let Some(expected) = expected {
            let found = unexpected_words(found);
            return fail(here, Problem::WrongType { expected, found });
        }
    }
    fail(here, Problem::BadValue)
}

/// `text` split around the last `needle`.
fn split_last<'t>(text: &'t str, needle: &str) -> Option<(&'t str, &'t str)> {
    let at = text
        .as_bytes()
        .windows(needle.len())
        .rposition(|window| window == needle.as_bytes())?;
    Some((text.get(..at)?, text.get(at.checked_add(needle.len())?..)?))
}

/// The names between backquotes in a parser message: `` `a`, `b` or `c` ``.
fn quoted_names(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// A parser's description of a value (`` integer `5` ``, `string "x"`, `map`)
/// in words: `the number 5`, `the string "x"`, `an object`.
fn unexpected_words(text: &str) -> String {
    let inner = |rest: &str| rest.replace('`', "");
    let words = if let Some(rest) = text.strip_prefix("string ") {
        format!("the string {rest}")
    } else if let Some(rest) = text
        .strip_prefix("integer ")
        .or_else(|| text.strip_prefix("floating point "))
    {
        format!("the number {}", inner(rest))
    } else if let Some(rest) = text.strip_prefix("boolean ") {
        inner(rest)
    } else {
        match text {
            "sequence" => "a list".into(),
            "map" => "an object".into(),
            "null" | "unit" => "null".into(),
            other => other.replace('`', ""),
        }
    };
    cut(words)
}

/// At most about 60 bytes of a value's words.
fn cut(words: String) -> String {
    match words.get(..57) {
        Some(head) if words.len() > 60 => format!("{head}..."),
        _ => words,
    }
}
