//! The JOSE header `typ` against a provider's `token_types` (RFC 7515 4.1.9,
//! RFC 9068): compared ignoring ASCII case and an `application/` prefix, so
//! `["at+jwt"]` accepts `at+jwt` and `application/at+jwt` and refuses ID tokens.

use crate::rejection::Rejection;

/// A type name as compared: lowercase, without `application/`; `None` if empty.
pub fn normalized(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("application/").unwrap_or(&lower);
    (!bare.is_empty()).then(|| bare.to_owned())
}

/// `typ` must be one of `accepted` (normalised); nothing is checked when
/// `accepted` is empty. A token without `typ` is refused.
pub fn check_type(typ: Option<&str>, accepted: &[String]) -> Result<(), Rejection> {
    if accepted.is_empty() {
        return Ok(());
    }
    let ours = typ.and_then(normalized);
    if ours.is_some_and(|typ| accepted.contains(&typ)) {
        Ok(())
    } else {
        Err(Rejection::WrongType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_jwt_in_any_spelling_and_nothing_else() {
        let accepted = vec![normalized("at+jwt").unwrap()];
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert_eq!(check_type(Some(typ), &accepted), Ok(()), "{typ}");
        }
        for typ in [
            Some("JWT"),
            Some("id+jwt"),
            Some(""),
            Some("application/"),
            None,
        ] {
            assert_eq!(
                check_type(typ, &accepted),
                Err(Rejection::WrongType),
                "{typ:?}"
            );
        }
        assert_eq!(
            check_type(None, &[]),
            Ok(()),
            "not checked when not configured"
        );
        assert_eq!(normalized(""), None);
    }
}
