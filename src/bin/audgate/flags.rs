//! The options of `mint`, `verify` and `exchange`: `--name value` or
//! `--name=value`, walked one argument at a time ([`Flags`]).

use std::slice::Iter;

/// The arguments of one command, as flags and their values.
pub struct Flags<'a> {
    rest: Iter<'a, String>,
    /// Whether a following `--option` may be a value (`mint`'s values are free
    /// text); else `--path --no-token` says `--path` lacks one.
    options_as_values: bool,
}

/// One argument: a flag (`--name`, with its `=value` if written so) or a
/// positional argument (`name` is the argument itself).
pub struct Flag<'a> {
    /// The flag as written before any `=`, or the whole argument.
    pub name: &'a str,
    /// The value written after `=`.
    pub inline: Option<&'a str>,
}

impl<'a> Flags<'a> {
    /// The flags of `args`; a value never starts with `--`.
    pub fn new(args: &'a [String]) -> Flags<'a> {
        Flags {
            rest: args.iter(),
            options_as_values: false,
        }
    }

    /// The flags of `args`, whose values may start with `--`.
    pub fn free_values(args: &'a [String]) -> Flags<'a> {
        Flags {
            rest: args.iter(),
            options_as_values: true,
        }
    }

    /// The next argument.
    pub fn next_flag(&mut self) -> Option<Flag<'a>> {
        let arg = self.rest.next()?;
        Some(match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => Flag {
                name,
                inline: Some(value),
            },
            _ => Flag {
                name: arg,
                inline: None,
            },
        })
    }

    /// The value of `flag`: its inline value, else the following argument;
    /// without one, an error that shows how to give it (`what`, e.g. `FILE`).
    pub fn value(&mut self, flag: &Flag<'_>, what: &str) -> Result<String, String> {
        if let Some(value) = flag.inline {
            return Ok(value.to_owned());
        }
        let options_as_values = self.options_as_values;
        let mut peek = self.rest.clone();
        match peek.next() {
            Some(next) if options_as_values || !next.starts_with("--") => {
                self.rest = peek;
                Ok(next.clone())
            }
            _ => Err(format!("{} needs a value: {} {what}", flag.name, flag.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn values_inline_or_following() {
        let list = args(&["--config=a.json", "--path", "/x", "token"]);
        let mut flags = Flags::new(&list);
        let config = flags.next_flag().unwrap();
        assert_eq!((config.name, config.inline), ("--config", Some("a.json")));
        assert_eq!(flags.value(&config, "FILE").unwrap(), "a.json");
        let path = flags.next_flag().unwrap();
        assert_eq!(flags.value(&path, "/PATH").unwrap(), "/x");
        let token = flags.next_flag().unwrap();
        assert_eq!((token.name, token.inline), ("token", None));
        assert!(flags.next_flag().is_none());
    }

    #[test]
    fn a_following_option_is_not_a_value_unless_values_are_free() {
        let list = args(&["--path", "--no-token"]);
        let mut flags = Flags::new(&list);
        let path = flags.next_flag().unwrap();
        assert_eq!(
            flags.value(&path, "/PATH").unwrap_err(),
            "--path needs a value: --path /PATH"
        );
        assert_eq!(
            flags.next_flag().unwrap().name,
            "--no-token",
            "not consumed"
        );
        let mut free = Flags::free_values(&list);
        let path = free.next_flag().unwrap();
        assert_eq!(free.value(&path, "/PATH").unwrap(), "--no-token");
        assert!(free.next_flag().is_none());
    }

    #[test]
    fn the_last_flag_without_a_value_says_so() {
        let list = args(&["--config"]);
        let mut flags = Flags::new(&list);
        let config = flags.next_flag().unwrap();
        assert_eq!(
            flags.value(&config, "FILE").unwrap_err(),
            "--config needs a value: --config FILE"
        );
    }

    #[test]
    fn an_equals_sign_in_a_positional_argument_is_kept() {
        let list = args(&["a=b"]);
        let flag = Flags::new(&list).next_flag().unwrap();
        assert_eq!((flag.name, flag.inline), ("a=b", None));
    }
}
