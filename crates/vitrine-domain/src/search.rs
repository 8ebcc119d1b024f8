//! Full-text search, defined once here and evaluated by each database. Text is folded (lower
//! case, accents removed, punctuation turned into spaces) before it is indexed and before it
//! is queried, so `Système` finds `systeme` in both languages and on both backends.
//!
//! Semantics: every query term must be a prefix of some word of the offering's document.

use crate::offering::Offering;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Most terms a query may have; later ones are ignored.
pub const MAX_TERMS: usize = 8;
/// Longest term kept, in characters.
pub const MAX_TERM_CHARS: usize = 64;

/// Folds text to lowercase words without accents, separated by single spaces.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// The text indexed for an offering: its names, descriptions and tags in both languages.
pub fn document(offering: &Offering) -> String {
    let mut parts: Vec<&str> = vec![
        offering.name.as_str(),
        &offering.display_name.en,
        &offering.description.en,
    ];
    parts.extend(offering.display_name.fr.as_deref());
    parts.extend(offering.description.fr.as_deref());
    parts.extend(offering.tags.iter().map(String::as_str));
    parts.extend(offering.category.as_deref());
    fold(&parts.join(" "))
}

/// The folded terms of a query; empty when the query has no words.
pub fn terms(query: &str) -> Vec<String> {
    fold(query)
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(MAX_TERM_CHARS).collect())
        .take(MAX_TERMS)
        .collect()
}

/// The text a database indexes for an offering: [`document`] with every word cut to
/// [`MAX_TERM_CHARS`]. Query terms are never longer (see [`index_terms`]), so a term is a
/// prefix of a cut word exactly when it is a prefix of the whole word; the cut keeps every
/// indexed word far below PostgreSQL's 2 KiB limit on a tsvector lexeme.
pub fn stored_document(offering: &Offering) -> String {
    document(offering)
        .split(' ')
        .map(|w| match w.char_indices().nth(MAX_TERM_CHARS) {
            Some((end, _)) => &w[..end],
            None => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The terms of a catalog query as the index sees them: empty terms dropped (an empty
/// prefix matches every document), each cut to [`MAX_TERM_CHARS`] as [`terms`] does.
pub fn index_terms(terms: &[String]) -> Vec<String> {
    terms
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(MAX_TERM_CHARS).collect())
        .collect()
}

/// The reference semantics: every term is a prefix of some word of the document.
pub fn matches(document: &str, terms: &[String]) -> bool {
    terms
        .iter()
        .all(|t| document.split(' ').any(|word| word.starts_with(t.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(
            fold("  Système de FICHIERS — élevé!"),
            "systeme de fichiers eleve"
        );
        assert_eq!(fold("obj-store v2.1"), "obj store v2 1");
        assert_eq!(fold("!!!"), "");
    }

    #[test]
    fn prefix_and_all_terms() {
        let doc = fold("Object Storage stockage objet s3");
        assert!(matches(&doc, &terms("stor")));
        assert!(matches(&doc, &terms("Stockage OBJ")));
        assert!(matches(&doc, &terms("")));
        assert!(!matches(&doc, &terms("storage database")));
        assert!(
            !matches(&doc, &terms("torage")),
            "prefixes only, not infixes"
        );
    }

    #[test]
    fn terms_are_bounded() {
        let q = "a b c d e f g h i j k";
        assert_eq!(terms(q).len(), MAX_TERMS);
        assert_eq!(terms(&"x".repeat(200))[0].len(), MAX_TERM_CHARS);
    }
}
