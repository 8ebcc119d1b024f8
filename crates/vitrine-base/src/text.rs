//! Sentences for people, in both languages vitrine speaks.
//!
//! Every refusal the domain (and the layers above it) gives carries a [`Text`]: a stable
//! `code` that clients may match on, and the sentence in English and in French, with the
//! values filled in. Whoever shows it picks the reader's language (the API by
//! `Accept-Language`, the pages by the reader's setting). A text is written with [`tr!`],
//! which takes both languages or does not compile: no refusal can exist in one language
//! only (and `crates/vitrine/tests/texts.rs` checks that the two differ and use the same values).

use serde::{Deserialize, Serialize};

/// The language a user reads vitrine and its emails in.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Fr,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Language::En),
            "fr" => Some(Language::Fr),
            _ => None,
        }
    }

    /// The language an `Accept-Language` header prefers among those vitrine speaks (the
    /// highest quality; the first of equals), if it names one.
    pub fn from_accept_language(header: &str) -> Option<Language> {
        let mut best: Option<(f32, Language)> = None;
        for item in header.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or_default();
            let lang = match primary {
                "en" => Language::En,
                "fr" => Language::Fr,
                _ => continue,
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }
}

/// A sentence in English and French with a stable code, such as
/// `submission.state_forbids`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    code: &'static str,
    en: String,
    fr: String,
}

impl Text {
    /// Use [`tr!`], which fills in values in both languages from the same arguments.
    pub fn new(code: &'static str, en: impl Into<String>, fr: impl Into<String>) -> Self {
        Self {
            code,
            en: en.into(),
            fr: fr.into(),
        }
    }

    /// The stable identifier of this sentence (the same for every value filled in).
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::En => &self.en,
            Language::Fr => &self.fr,
        }
    }

    pub fn en(&self) -> &str {
        &self.en
    }

    pub fn fr(&self) -> &str {
        &self.fr
    }

    /// This sentence with `more` after it, in each language (the code stays this one's).
    pub fn followed_by(self, more: &Text) -> Text {
        Text {
            code: self.code,
            en: format!("{}{}", self.en, more.en),
            fr: format!("{}{}", self.fr, more.fr),
        }
    }
}

/// English, as logs and `Display` read it.
impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.en)
    }
}

/// `tr!("code", "English {value}", "Français {value}")`, or with format arguments after
/// the French: both sentences are `format!`ed with the same arguments, so a value used in
/// one language and not the other does not compile.
#[macro_export]
macro_rules! tr {
    ($code:literal, $en:literal, $fr:literal $(,)?) => {
        $crate::text::Text::new($code, format!($en), format!($fr))
    };
    ($code:literal, $en:literal, $fr:literal, $($arg:tt)+) => {
        $crate::text::Text::new($code, format!($en, $($arg)+), format!($fr, $($arg)+))
    };
}

/// A field that must be given.
pub fn required() -> Text {
    crate::tr!("field.required", "is required", "est obligatoire")
}

/// A rejection (of a provider application, of a submission) says why.
pub fn rejection_needs_reason() -> Text {
    crate::tr!(
        "decision.reason_required",
        "a rejection needs a reason",
        "un refus doit être motivé"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_known_language() {
        let pick = Language::from_accept_language;
        assert_eq!(pick("fr-FR,fr;q=0.9,en;q=0.8"), Some(Language::Fr));
        assert_eq!(pick("de, en-GB;q=0.5, fr;q=0.4"), Some(Language::En));
        assert_eq!(pick("de"), None);
        assert_eq!(pick("fr;q=0, en;q=0.1"), Some(Language::En));
        assert_eq!(pick("en, fr"), Some(Language::En), "the first of equals");
    }

    #[test]
    fn both_languages_with_the_same_values() {
        let max = 63;
        let text = tr!(
            "test.length",
            "must have at most {max} characters",
            "doit compter au plus {max} caractères"
        );
        assert_eq!(text.code(), "test.length");
        assert_eq!(text.get(Language::En), "must have at most 63 characters");
        assert_eq!(text.get(Language::Fr), "doit compter au plus 63 caractères");
        assert_eq!(text.to_string(), "must have at most 63 characters");
        let named = tr!("test.named", "{n} left", "{n} restants", n = 2);
        assert_eq!(named.fr(), "2 restants");
    }
}
