//! The `token68` syntax of RFC 9110 §11.2: what a bearer credential is made of,
//! and so what audgate ever sends onward or accepts from a token service.

/// Whether `text` is a non-empty `token68`: letters, digits and `-._~+/`,
/// then any number of `=`.
pub fn is_token68(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token68_is_checked() {
        assert!(is_token68("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
        assert!(is_token68("abc+/=="));
        assert!(!is_token68(""));
        assert!(!is_token68("=="));
        assert!(!is_token68("a b"));
        assert!(!is_token68("a=b"));
        assert!(!is_token68("a\r\nb"));
    }
}
