//! Every sentence vitrine refuses with exists in both languages, checked on the source tree.
//!
//! `tr!("code", "English", "French", …)` (vitrine-domain's `text` module) takes both
//! sentences or does not compile; this test holds what the compiler cannot: neither is
//! empty, they differ (a copy is an untranslated sentence), they name the same values
//! (`{max}` in one and not the other would show a wrong number; a value said in each
//! language is `{x_en}` in one and `{x_fr}` in the other), and the code is a stable
//! dotted name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literals at the start of `rest` (after `tr!(`), separated by commas and
/// whitespace, as Rust reads them (escapes, and `\` at a line's end joining lines).
fn leading_literals(rest: &str, count: usize) -> Option<Vec<String>> {
    let mut literals = Vec::new();
    let mut chars = rest.chars().peekable();
    while literals.len() < count {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut literal = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => literal.push('\n'),
                    't' => literal.push('\t'),
                    '\n' => {
                        while chars.peek().is_some_and(|c| c.is_whitespace()) {
                            chars.next();
                        }
                    }
                    other => literal.push(other),
                },
                c => literal.push(c),
            }
        }
        literals.push(literal);
    }
    Some(literals)
}

/// The names inside `{…}` (format arguments), without format specs.
fn placeholders(sentence: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = sentence;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            rest = stripped;
            continue;
        }
        let Some(end) = after.find('}') else { break };
        let name = after[..end].split(':').next().unwrap_or_default();
        // A value said differently in each language is named `x_en` in the English and
        // `x_fr` in the French (`en` and `fr` when it is the whole value).
        let name = match name {
            "en" | "fr" => "",
            other => other
                .strip_suffix("_en")
                .or_else(|| other.strip_suffix("_fr"))
                .unwrap_or(other),
        };
        names.insert(name.to_owned());
        rest = &after[end + 1..];
    }
    names
}

#[test]
fn every_refusal_exists_in_english_and_french() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    let mut seen = 0;
    let mut faults = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("a source file");
        let shown = file.strip_prefix(workspace()).unwrap_or(file).display();
        for (at, _) in source.match_indices("tr!(") {
            // `tr!` itself, not the end of another macro's name (`attr!`, `str!`), nor the
            // name quoted in a string (this file's own search).
            if source[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"')
            {
                continue;
            }
            // The macro's own definition and its documentation are not texts.
            let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
            let line = &source[line_start..at];
            if line.trim_start().starts_with("//") || line.contains("macro_rules") {
                continue;
            }
            let Some(literals) = leading_literals(&source[at + 4..], 3) else {
                faults.push(format!("{shown}: a tr! without three literal strings"));
                continue;
            };
            seen += 1;
            let (code, en, fr) = (&literals[0], &literals[1], &literals[2]);
            let line_number = source[..at].lines().count();
            let here = format!("{shown}:{line_number} ({code})");
            if code.is_empty()
                || !code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
            {
                faults.push(format!("{here}: the code must be a dotted lowercase name"));
            }
            if en.trim().is_empty() || fr.trim().is_empty() {
                faults.push(format!("{here}: a language is empty"));
            }
            if en == fr {
                faults.push(format!("{here}: the French is a copy of the English"));
            }
            if placeholders(en) != placeholders(fr) {
                faults.push(format!(
                    "{here}: the languages name different values: {:?} and {:?}",
                    placeholders(en),
                    placeholders(fr)
                ));
            }
        }
    }
    assert!(
        seen > 150,
        "only {seen} texts found: is the scan still right?"
    );
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[test]
fn the_scanner_reads_literals_as_rust_does() {
    let literals = leading_literals(
        "\n  \"a.b\",\n  \"one \\\n   line {n}\",\n  \"une \\\"ligne\\\" {n}\"\n)",
        3,
    )
    .expect("three literals");
    assert_eq!(literals, ["a.b", "one line {n}", "une \"ligne\" {n}"]);
    assert_eq!(
        placeholders("{a} and {b:?} but not {{c}}"),
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
    assert_eq!(placeholders("{state_en}"), placeholders("{state_fr}"));
    assert_ne!(placeholders("{state_en}"), placeholders("{verb_fr}"));
}
