//! The pages' words, read from the server's translation files, so the tests look for what a
//! reader sees in each language without copying every sentence.

use std::collections::HashMap;
use std::path::Path;

pub struct Texts {
    /// key → language → text.
    entries: HashMap<String, HashMap<String, String>>,
}

impl Texts {
    /// Every `crates/vitrine-web/web/i18n/*.toml`.
    pub fn load() -> Texts {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vitrine-web/web/i18n");
        let mut entries = HashMap::new();
        let files = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let source = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let table: HashMap<String, HashMap<String, String>> = toml::from_str(&source)
                .unwrap_or_else(|e| panic!("{} is not a translation file: {e}", path.display()));
            entries.extend(table);
        }
        Texts { entries }
    }

    /// The text of `key` in `lang`, with `{name}` placeholders filled from `args`.
    pub fn get(&self, key: &str, lang: &str, args: &[(&str, &str)]) -> String {
        let mut text = self
            .entries
            .get(key)
            .and_then(|by_lang| by_lang.get(lang))
            .unwrap_or_else(|| panic!("no {lang} text for {key} in web/i18n"))
            .clone();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }
}
