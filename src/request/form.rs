//! `application/x-www-form-urlencoded`, as a callout's body and as RFC 6749
//! §2.3.1 encodes client credentials before HTTP Basic: letters, digits and
//! `*-._` as they are, space as `+`, every other byte as `%XX`.

use std::fmt::Write;

/// A form body built one field at a time, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form {
    body: String,
}

impl Form {
    /// An empty form.
    pub fn new() -> Form {
        Form::default()
    }

    /// Adds `name=value`, both encoded.
    pub fn field(mut self, name: &str, value: &str) -> Form {
        if !self.body.is_empty() {
            self.body.push('&');
        }
        self.body.push_str(&encode(name));
        self.body.push('=');
        self.body.push_str(&encode(value));
        self
    }

    /// Adds `name=value` when there is a value.
    pub fn optional(self, name: &str, value: Option<&str>) -> Form {
        match value {
            Some(value) => self.field(name, value),
            None => self,
        }
    }

    /// The body.
    pub fn into_body(self) -> String {
        self.body
    }
}

/// `text` form-urlencoded.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_bytes_are_escaped_and_space_is_plus() {
        assert_eq!(encode("a b&c=d"), "a+b%26c%3Dd");
        assert_eq!(encode("urn:ietf:x"), "urn%3Aietf%3Ax");
        assert_eq!(encode("Az09*-._"), "Az09*-._");
        assert_eq!(encode("~/+%"), "%7E%2F%2B%25");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn fields_keep_their_order() {
        let body = Form::new()
            .field("grant_type", "x y")
            .optional("scope", None)
            .optional("audience", Some("a&b"))
            .into_body();
        assert_eq!(body, "grant_type=x+y&audience=a%26b");
    }
}
