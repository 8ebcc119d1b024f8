//! Field validators shared by every command. Each returns the cleaned value or an
//! [`DomainError::Invalid`] naming the field.

use crate::error::DomainError;
use crate::text::Text;
use crate::tr;

fn not_an_email() -> Text {
    tr!(
        "field.email",
        "must be an email address",
        "doit être une adresse e-mail"
    )
}

/// Trims `value` and checks it has at least `min` characters once trimmed and at most `max`
/// as sent (the limit is on what a client sends, which is what its schema can say: see
/// [`crate::field_schema`]).
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, DomainError> {
    let trimmed = value.trim();
    let count = trimmed.chars().count();
    if value.chars().count() > max {
        return Err(too_long(field, max));
    }
    if count < min {
        return Err(if min == 1 {
            DomainError::invalid(
                field,
                tr!("field.empty", "must not be empty", "ne doit pas être vide"),
            )
        } else {
            DomainError::invalid(
                field,
                tr!(
                    "field.too_short",
                    "must have at least {min} characters",
                    "doit compter au moins {min} caractères"
                ),
            )
        });
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(DomainError::invalid(
            field,
            tr!(
                "field.control_characters",
                "must not contain control characters",
                "ne doit pas contenir de caractères de contrôle"
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

fn too_long(field: &str, max: usize) -> DomainError {
    DomainError::invalid(
        field,
        tr!(
            "field.too_long",
            "must have at most {max} characters",
            "doit compter au plus {max} caractères"
        ),
    )
}

/// Like [`text`] but a blank or missing value becomes `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    match value {
        None => Ok(None),
        Some(v) if v.chars().count() > max => Err(too_long(field, max)),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => text(field, v, 1, max).map(Some),
    }
}

/// The shortest password vitrine accepts. Length is what makes a password hard to guess.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: enough for any passphrase, short enough to hash cheaply.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A new password: 10 to 1024 characters, taken as typed (never trimmed).
pub fn password(field: &str, password: &str) -> Result<(), DomainError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(DomainError::invalid(
            field,
            tr!(
                "field.too_short",
                "must have at least {MIN_PASSWORD_CHARS} characters",
                "doit compter au moins {MIN_PASSWORD_CHARS} caractères"
            ),
        ))
    } else if n > MAX_PASSWORD_CHARS {
        Err(too_long(field, MAX_PASSWORD_CHARS))
    } else {
        Ok(())
    }
}

/// Like [`url`] but a blank value becomes `None`.
pub fn optional_url(field: &str, value: &str) -> Result<Option<String>, DomainError> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        url(field, value).map(Some)
    }
}

/// Where to reach someone: an email address or an http(s) URL; blank is `None`.
pub fn contact(field: &str, value: &str) -> Result<Option<String>, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > 2048 {
        return Err(too_long(field, 2048));
    }
    if v.contains('@') && !v.contains("://") {
        email(field, v).map(Some)
    } else {
        url(field, v).map(Some).map_err(|_| {
            DomainError::invalid(
                field,
                tr!(
                    "offering.support_contact",
                    "must be an email address or an http(s) URL",
                    "doit être une adresse e-mail ou une URL http(s)"
                ),
            )
        })
    }
}

/// A tag: 2 to 32 ASCII letters, digits and dashes once trimmed, lowercased.
pub fn tag(field: &str, value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    if (2..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(DomainError::invalid(
            field,
            tr!(
                "offering.tag_characters",
                "must be 2 to 32 letters (a to z), digits and dashes",
                "doit compter de 2 à 32 lettres (a à z), chiffres et tirets"
            ),
        ))
    }
}

/// Like [`programmatic_name`] once trimmed, but a blank value becomes `None`.
pub fn optional_programmatic_name(field: &str, value: &str) -> Result<Option<String>, DomainError> {
    match value.trim() {
        "" => Ok(None),
        v => programmatic_name(field, v).map(Some),
    }
}

/// An absolute `http` or `https` URL with a host.
pub fn url(field: &str, value: &str) -> Result<String, DomainError> {
    let v = text(field, value, 1, 2048)?;
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(|| {
            DomainError::invalid(
                field,
                tr!(
                    "url.scheme",
                    "must start with https:// or http://",
                    "doit commencer par https:// ou http://"
                ),
            )
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || v.contains(char::is_whitespace) {
        return Err(DomainError::invalid(
            field,
            tr!(
                "url.host",
                "must be an absolute URL with a host",
                "doit être une URL absolue avec un nom d’hôte"
            ),
        ));
    }
    Ok(v)
}

/// An email address: one `@`, a non-empty local part, a domain with a dot. Lowercased,
/// since vitrine treats addresses that differ only in case as the same person.
pub fn email(field: &str, value: &str) -> Result<String, DomainError> {
    let v = text(field, value, 3, 254)?.to_lowercase();
    let (local, domain) = v
        .split_once('@')
        .ok_or_else(|| DomainError::invalid(field, not_an_email()))?;
    let ok = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.contains(char::is_whitespace);
    if ok {
        Ok(v)
    } else {
        Err(DomainError::invalid(field, not_an_email()))
    }
}

/// An ISO 3166-1 alpha-2 country code (`FR`, `US`), uppercased.
pub fn country(field: &str, value: &str) -> Result<String, DomainError> {
    let v = value.trim().to_ascii_uppercase();
    if v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(v)
    } else {
        Err(DomainError::invalid(
            field,
            tr!(
                "field.country",
                "must be a two-letter ISO 3166-1 country code, such as FR",
                "doit être un code pays ISO 3166-1 de deux lettres, comme FR"
            ),
        ))
    }
}

/// An ISO 4217 currency code (`EUR`, `USD`).
pub fn currency(field: &str, value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    if v.len() == 3 && v.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(v.to_owned())
    } else {
        Err(DomainError::invalid(
            field,
            tr!(
                "field.currency",
                "must be a three-letter ISO 4217 currency code in capitals, such as EUR",
                "doit être un code de devise ISO 4217 de trois lettres majuscules, comme EUR"
            ),
        ))
    }
}

/// A non-negative decimal amount written as text (`"12.50"`), so that no precision is
/// lost to floating point: up to 12 digits before the point and 6 after.
pub fn decimal_amount(field: &str, value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let ok = !int.is_empty()
        && int.len() <= 12
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 6
        && frac.bytes().all(|b| b.is_ascii_digit())
        && frac.is_empty() != v.contains('.');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(DomainError::invalid(
            field,
            tr!(
                "field.amount",
                "must be a non-negative decimal number such as 12.50 (at most 6 decimals)",
                "doit être un nombre décimal positif ou nul comme 12.50 (6 décimales au plus)"
            ),
        ))
    }
}

/// A programmatic name: 3 to 32 lowercase ASCII letters, digits and dashes, starting with
/// a letter, not ending with a dash.
pub fn programmatic_name(field: &str, value: &str) -> Result<String, DomainError> {
    let v = value;
    let valid_chars = v
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok = (3..=32).contains(&v.len())
        && valid_chars
        && v.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && !v.ends_with('-');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(DomainError::invalid(
            field,
            tr!(
                "field.programmatic_name",
                "must be 3 to 32 lowercase letters, digits and dashes, starting with a letter and not ending with a dash",
                "doit compter de 3 à 32 lettres minuscules, chiffres et tirets, commencer par une lettre et ne pas finir par un tiret"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programmatic_names() {
        for ok in [
            "abc",
            "my-service",
            "a1-b2",
            "abcdefghijklmnopqrstuvwxyz012345",
        ] {
            assert!(programmatic_name("n", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "Abc",
            "1abc",
            "-abc",
            "abc-",
            "a_bc",
            "abc def",
            "ab\u{e9}c",
            "abcdefghijklmnopqrstuvwxyz0123456",
        ] {
            assert!(programmatic_name("n", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            email("e", " Ana@Example.COM ").as_deref(),
            Ok("ana@example.com")
        );
        for bad in [
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a@b@c.d",
            "a@.com",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_need_a_scheme_and_host() {
        assert!(url("u", "https://docs.example.com/x?y#z").is_ok());
        assert!(url("u", "http://localhost:8080").is_ok());
        for bad in [
            "docs.example.com",
            "ftp://x.y",
            "https://",
            "https:///path",
            "https://a b",
        ] {
            assert!(url("u", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_keep_their_digits() {
        for ok in ["0", "12.5", "12.50", "0.000001", "999999999999.999999"] {
            assert_eq!(decimal_amount("a", ok).as_deref(), Ok(ok));
        }
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "1e3",
            "1.0000001",
            "1,5",
            "1234567890123",
        ] {
            assert!(decimal_amount("a", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes() {
        assert_eq!(country("c", "fr").as_deref(), Ok("FR"));
        assert!(country("c", "FRA").is_err());
        assert!(currency("c", "EUR").is_ok());
        assert!(currency("c", "eur").is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("t", "  hi ", 1, 5).as_deref(), Ok("hi"));
        assert!(text("t", "   ", 1, 5).is_err());
        assert!(text("t", "toolong", 1, 5).is_err());
        assert!(text("t", "a\u{0}b", 1, 5).is_err());
        assert_eq!(optional_text("t", Some("  "), 5), Ok(None));
    }
}
