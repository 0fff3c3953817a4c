//! The options of `mint` and `verify`: `--name value` or `--name=value`.

/// `arg` as a flag and its inline value: `--name=value` is `("--name", Some("value"))`,
/// anything else the argument itself and no value.
pub fn split(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (arg, None),
    }
}

/// The value of `flag`: its inline value, else what `next` takes (the following
/// argument); without one, an error that shows how to give it (`what`, e.g. `FILE`).
pub fn value<'a>(
    flag: &str,
    inline: Option<&str>,
    next: impl FnOnce() -> Option<&'a String>,
    what: &str,
) -> Result<String, String> {
    match inline {
        Some(value) => Ok(value.to_owned()),
        None => next()
            .cloned()
            .ok_or(format!("{flag} needs a value: {flag} {what}")),
    }
}
