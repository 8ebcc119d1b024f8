//! The interface's words in English and French.
//!
//! Translations live in `web/i18n/<group>.toml`, one table per key holding both languages
//! side by side, so a key cannot gain one language and miss the other unnoticed:
//!
//! ```toml
//! ["catalog.title"]
//! en = "Catalog"
//! fr = "Catalogue"
//! ```
//!
//! Placeholders are written `{name}` and filled from the template call
//! (`t("catalog.count", count=3)`). Written by hand rather than with Fluent: two languages,
//! no plural rules beyond what a key per case covers, and the check that every key has
//! both languages and every key a template uses exists is a few lines (see the tests).

use std::collections::HashMap;

use vitrine_domain::user::Language;

/// Every translated string, by key.
#[derive(Debug, Default)]
pub struct Translations {
    strings: HashMap<String, (String, String)>,
}

impl Translations {
    /// Reads every group file. A file that is not valid, or a key missing a language, is a
    /// build-time mistake: the error names the file and key.
    pub fn load(files: &[(&str, &str)]) -> Result<Self, String> {
        let mut strings = HashMap::new();
        for (file, source) in files {
            let table: toml::Table =
                toml::from_str(source).map_err(|e| format!("web/i18n/{file}: {e}"))?;
            for (key, value) in table {
                let text = |lang: &str| {
                    value
                        .get(lang)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                        .ok_or_else(|| format!("web/i18n/{file}: `{key}` has no `{lang}` text"))
                };
                let pair = (text("en")?, text("fr")?);
                if strings.insert(key.clone(), pair).is_some() {
                    return Err(format!("web/i18n/{file}: `{key}` is defined twice"));
                }
            }
        }
        Ok(Self { strings })
    }

    /// The text of `key` in `lang`; the key itself when it is unknown (visible, and the
    /// tests fail on it).
    pub fn get<'a>(&'a self, key: &'a str, lang: Language) -> &'a str {
        match (self.strings.get(key), lang) {
            (Some((en, _)), Language::En) => en,
            (Some((_, fr)), Language::Fr) => fr,
            (None, _) => key,
        }
    }

    #[cfg(test)]
    pub fn contains(&self, key: &str) -> bool {
        self.strings.contains_key(key)
    }

    #[cfg(test)]
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.strings.keys().map(String::as_str)
    }
}

/// Fills `{name}` placeholders from `args`; unknown placeholders stay as written.
pub fn fill(text: &str, args: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match args.iter().find(|(k, _)| k == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The language an `Accept-Language` header prefers (the domain's rule, shared with the API).
pub fn from_accept_language(header: &str) -> Option<Language> {
    Language::from_accept_language(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_languages_and_no_key_is_defined_twice() {
        let translations =
            Translations::load(crate::files::TRANSLATIONS).expect("the translation files load");
        assert!(translations.keys().count() > 20);
        for key in translations.keys() {
            assert!(!translations.get(key, Language::En).is_empty(), "{key} en");
            assert!(!translations.get(key, Language::Fr).is_empty(), "{key} fr");
        }
    }

    #[test]
    fn every_key_a_template_uses_exists() {
        let translations =
            Translations::load(crate::files::TRANSLATIONS).expect("the translation files load");
        let mut missing = Vec::new();
        for (name, source) in crate::files::TEMPLATES {
            for quote in ['"', '\''] {
                let opening = format!("t({quote}");
                let mut rest = *source;
                while let Some(start) = rest.find(&opening) {
                    // `t(` itself, not the end of another name (`input(`, `f.t(`).
                    let own = !rest[..start]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
                    let after = &rest[start + opening.len()..];
                    let Some(end) = after.find(quote) else { break };
                    let key = &after[..end];
                    // A key built from a prefix (`t("problem." ~ kind)`) has a test of its
                    // own that every value is translated.
                    if own && !key.ends_with('.') && !translations.contains(key) {
                        missing.push(format!("{name}: {key}"));
                    }
                    rest = &after[end..];
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys used but not translated: {missing:#?}"
        );
    }

    #[test]
    fn every_code_a_page_translates_is_translated() {
        let translations =
            Translations::load(crate::files::TRANSLATIONS).expect("the translation files load");
        for code in vitrine_domain::checklist::MISSING_PIECES {
            let key = format!("provider.editor.missing.{code}");
            assert!(translations.contains(&key), "{key}");
        }
        // The thread's authors' parts (the API's `author_role`).
        for role in ["provider", "validator", "admin"] {
            let key = format!("submission_page.role.{role}");
            assert!(translations.contains(&key), "{key}");
        }
    }

    #[test]
    fn a_missing_language_names_the_file_and_key() {
        let error = Translations::load(&[("x.toml", "[\"a.b\"]\nen = \"A\"\n")])
            .expect_err("fr is missing");
        assert!(error.contains("x.toml") && error.contains("a.b") && error.contains("fr"));
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept() {
        let args = vec![("n".to_owned(), "3".to_owned())];
        assert_eq!(fill("{n} offerings", &args), "3 offerings");
        assert_eq!(fill("{m} and {n}", &args), "{m} and 3");
        assert_eq!(fill("open { brace", &args), "open { brace");
    }
}
