//! The field validators of [`crate::validate`] as JSON Schema: a regular expression (and
//! length limits) that accepts exactly the values the validator accepts, so the OpenAPI
//! document says what the server enforces and a client can check a value before sending it.
//!
//! A request field names its rule in its schema with a *marker* pattern, `vitrine:<rule>`
//! (`#[schema(pattern = "vitrine:text:1:200")]`), which the document's post-processor
//! (`vitrine_http::openapi`) replaces with [`FieldSchema::for_marker`]'s pattern and limits.
//! utoipa takes only literal patterns, and these are long and computed from the limits; a
//! marker keeps the field's rule next to the field.
//!
//! The patterns use only what ECMA-262, Python's `re` (schemathesis) and Rust's `regex` read
//! the same way: classes of `\uXXXX` ranges, `(?:…)`, counted repetition, no look-around, no
//! `\s`, `\w` or `\p{…}` (whose meaning differs between them). The tests below hold each
//! pattern to its validator over a corpus of awkward values.

/// What a field's JSON Schema says of its string values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSchema {
    pub pattern: Option<String>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
}

/// White space as Rust's `str::trim` removes it (the Unicode `White_Space` property).
const WS: &str =
    r"[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// A character that is neither white space nor a control character: what a trimmed text
/// starts and ends with.
const SOLID: &str =
    r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// A character a text may hold inside: anything but control characters, tab and newline
/// excepted.
const INNER: &str = r"[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]";

/// The marker prefix of a rule named in a schema's `pattern`.
pub const MARKER: &str = "vitrine:";

fn text_core(min: usize) -> String {
    match min {
        0 | 1 => format!("{SOLID}(?:{INNER}*{SOLID})?"),
        n => format!("{SOLID}{INNER}{{{},}}{SOLID}", n - 2),
    }
}

fn padded(core: &str) -> String {
    format!("^{WS}*{core}{WS}*$")
}

fn email_core() -> String {
    // A local part, one `@`, a domain holding a dot that neither starts nor ends it; no white
    // space or control character anywhere.
    let part = r"[^@\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
    let edge = r"[^.@\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
    format!(r"{part}+@{edge}{part}*\.{part}*{edge}")
}

fn url_core() -> String {
    let host_start =
        r"[^/?#\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
    format!(r"https?://{host_start}{SOLID}*")
}

const NAME_CORE: &str = "[a-z][a-z0-9-]{1,30}[a-z0-9]";

impl FieldSchema {
    fn pattern(pattern: String, max_length: Option<usize>) -> Self {
        FieldSchema {
            pattern: Some(pattern),
            min_length: None,
            max_length,
        }
    }

    /// The schema of the rule a marker names (`vitrine:text:1:200`), or `None` for a pattern
    /// that is not a marker or names no rule.
    ///
    /// Rules: `text:MIN:MAX` ([`crate::validate::text`]), `optional_text:MAX` (blank is
    /// none, [`crate::validate::optional_text`]), `email`, `url`, `optional_url` (blank is
    /// none), `contact` (an email address or a URL; blank is none), `country`, `currency`,
    /// `amount`, `name` ([`crate::validate::programmatic_name`]), `optional_name` (trimmed;
    /// blank is none), `tag`, `password`.
    pub fn for_marker(marker: &str) -> Option<FieldSchema> {
        let rule = marker.strip_prefix(MARKER)?;
        let mut parts = rule.split(':');
        let name = parts.next()?;
        let numbers: Vec<usize> = parts.map(str::parse).collect::<Result<_, _>>().ok()?;
        let schema = match (name, numbers.as_slice()) {
            ("text", [min, max]) => Self::pattern(padded(&text_core(*min)), Some(*max)),
            ("optional_text", [max]) => {
                Self::pattern(padded(&format!("(?:{})?", text_core(1))), Some(*max))
            }
            ("email", []) => Self::pattern(padded(&email_core()), Some(254)),
            ("url", []) => Self::pattern(padded(&url_core()), Some(2048)),
            ("optional_url", []) => {
                Self::pattern(padded(&format!("(?:{})?", url_core())), Some(2048))
            }
            ("contact", []) => Self::pattern(
                padded(&format!("(?:{}|{})?", email_core(), url_core())),
                Some(2048),
            ),
            ("country", []) => Self::pattern(padded("[A-Za-z]{2}"), None),
            ("currency", []) => Self::pattern(padded("[A-Z]{3}"), None),
            ("amount", []) => Self::pattern(padded(r"[0-9]{1,12}(?:\.[0-9]{1,6})?"), None),
            ("name", []) => Self::pattern(format!("^{NAME_CORE}$"), None),
            ("optional_name", []) => Self::pattern(padded(&format!("(?:{NAME_CORE})?")), None),
            ("tag", []) => Self::pattern(padded("[A-Za-z0-9-]{2,32}"), None),
            ("password", []) => FieldSchema {
                pattern: None,
                min_length: Some(crate::validate::MIN_PASSWORD_CHARS),
                max_length: Some(crate::validate::MAX_PASSWORD_CHARS),
            },
            _ => return None,
        };
        Some(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate;

    /// Values that trip up trimming, control characters, lengths and the shapes of each
    /// rule; every rule is tried on every value.
    fn corpus() -> Vec<String> {
        let mut values: Vec<String> = [
            "",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\u{b}",
            "\u{c}",
            "\u{85}",
            "\u{a0}",
            "\u{3000}",
            "\u{1c}",
            "\u{0}",
            "\u{7f}",
            "\u{9f}",
            "\u{200b}",
            "a",
            "ab",
            "abc",
            " abc ",
            "\tabc\n",
            "\u{a0}abc\u{3000}",
            "a\u{0}b",
            "a\u{1c}b",
            "a\rb",
            "a\nb",
            "a\tb",
            "a\u{85}b",
            "a b",
            "\u{85}abc",
            "abc\u{1f}",
            "\u{1c}abc",
            "é",
            "日本",
            "x\u{301}",
            "ana@example.com",
            " Ana@Example.COM ",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a@b@c.d",
            "a@.com",
            "a@b.",
            "a@b.c",
            "a@b..c",
            "a@\u{a0}b.c",
            "https://docs.example.com/x?y#z",
            "http://h",
            "https://",
            "https:///x",
            "https://?",
            "ftp://h",
            "https://h x",
            " https://h ",
            "https://h\u{0}",
            "HTTPS://h",
            "https://#",
            "fr",
            "FR",
            "F",
            "FRA",
            "f1",
            " fr ",
            "EUR",
            "eur",
            "EU",
            "EURO",
            "12.50",
            "12",
            "0",
            ".5",
            "12.",
            "1.2.3",
            "1234567890123",
            "123456789012",
            "1.1234567",
            "1.123456",
            "-1",
            "+1",
            " 12.5 ",
            "my-service",
            "a1-b2",
            "Abc",
            "1abc",
            "-abc",
            "abc-",
            "a_bc",
            "abc def",
            "ab\u{e9}c",
            "données",
            "x-y",
            "--",
            "a-",
            "KB",
            "\u{212a}b",
            "long enough pass",
            "short",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        values.push("abcdefghijklmnopqrstuvwxyz012345".to_owned());
        values.push("abcdefghijklmnopqrstuvwxyz0123456".to_owned());
        for n in [9, 10, 11, 99, 100, 101, 199, 200, 201, 1023, 1024, 1025] {
            values.push("x".repeat(n));
            values.push(format!(" {} ", "y".repeat(n.saturating_sub(2))));
            values.push(format!("{}  ", "z".repeat(n.saturating_sub(1))));
        }
        values
    }

    fn matches(schema: &FieldSchema, value: &str) -> bool {
        let count = value.chars().count();
        let pattern_ok = schema.pattern.as_deref().is_none_or(|p| {
            regex::Regex::new(p)
                .unwrap_or_else(|e| panic!("pattern {p}: {e}"))
                .is_match(value)
        });
        pattern_ok
            && schema.min_length.is_none_or(|min| count >= min)
            && schema.max_length.is_none_or(|max| count <= max)
    }

    fn check(marker: &str, validator: impl Fn(&str) -> bool) {
        let schema = FieldSchema::for_marker(marker).unwrap_or_else(|| panic!("{marker}"));
        for value in corpus() {
            assert_eq!(
                matches(&schema, &value),
                validator(&value),
                "{marker} on {value:?}: the schema and the server disagree"
            );
        }
    }

    #[test]
    fn each_pattern_accepts_exactly_what_its_validator_accepts() {
        for (min, max) in [(1, 100), (1, 200), (2, 32), (3, 254), (10, 1024)] {
            check(&format!("vitrine:text:{min}:{max}"), |v| {
                validate::text("f", v, min, max).is_ok()
            });
        }
        for max in [100, 2000] {
            check(&format!("vitrine:optional_text:{max}"), |v| {
                validate::optional_text("f", Some(v), max).is_ok()
            });
        }
        check("vitrine:email", |v| validate::email("f", v).is_ok());
        check("vitrine:url", |v| validate::url("f", v).is_ok());
        check("vitrine:optional_url", |v| {
            validate::optional_url("f", v).is_ok()
        });
        check("vitrine:contact", |v| validate::contact("f", v).is_ok());
        check("vitrine:country", |v| validate::country("f", v).is_ok());
        check("vitrine:currency", |v| validate::currency("f", v).is_ok());
        check("vitrine:amount", |v| {
            validate::decimal_amount("f", v).is_ok()
        });
        check("vitrine:name", |v| {
            validate::programmatic_name("f", v).is_ok()
        });
        check("vitrine:optional_name", |v| {
            validate::optional_programmatic_name("f", v).is_ok()
        });
        check("vitrine:tag", |v| validate::tag("f", v).is_ok());
        check("vitrine:password", |v| validate::password("f", v).is_ok());
    }

    #[test]
    fn markers_that_name_no_rule_are_left_alone() {
        for marker in [
            "^[a-z]+$",
            "vitrine:",
            "vitrine:text",
            "vitrine:text:1",
            "vitrine:text:a:b",
            "vitrine:nothing",
            "vitrine:email:3",
        ] {
            assert_eq!(FieldSchema::for_marker(marker), None, "{marker}");
        }
    }
}
