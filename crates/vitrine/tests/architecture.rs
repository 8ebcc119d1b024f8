//! The architecture invariants of ARCHITECTURE.md that the compiler does not hold by
//! itself, checked on the source tree:
//!
//! - each crate depends only on the vitrine crates below it (the layering table here is the
//!   one in ARCHITECTURE.md's code map), and the crates that must know nothing of HTTP,
//!   storage or the network do not depend on the libraries that would let them;
//! - no crate holds more than about 5,000 lines of non-test code;
//! - no two files of a crate import each other, directly or in a circle (`use crate::…`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which vitrine crates each crate may depend on (normal dependencies, not dev ones).
const LAYERS: &[(&str, &[&str])] = &[
    ("vitrine-base", &[]),
    ("vitrine-calendar", &["vitrine-base"]),
    ("vitrine-submission", &["vitrine-base"]),
    (
        "vitrine-domain",
        &["vitrine-base", "vitrine-calendar", "vitrine-submission"],
    ),
    ("vitrine-blob", &[]),
    ("vitrine-inbound", &[]),
    ("vitrine-mailbox", &[]),
    ("vitrine-osb", &["vitrine-outbound"]),
    ("vitrine-outbound", &[]),
    ("vitrine-store", &["vitrine-domain"]),
    ("vitrine-store-testing", &["vitrine-store"]),
    ("vitrine-checks-store", &["vitrine-domain", "vitrine-store"]),
    ("vitrine-mail", &["vitrine-domain"]),
    ("vitrine-webhook-rules", &["vitrine-domain"]),
    (
        "vitrine-jobs",
        &[
            "vitrine-domain",
            "vitrine-store",
            "vitrine-checks-store",
            "vitrine-blob",
            "vitrine-mail",
            "vitrine-inbound",
        ],
    ),
    (
        "vitrine-ingest",
        &[
            "vitrine-domain",
            "vitrine-store",
            "vitrine-blob",
            "vitrine-inbound",
            "vitrine-jobs",
        ],
    ),
    (
        "vitrine-checks",
        &[
            "vitrine-domain",
            "vitrine-store",
            "vitrine-checks-store",
            "vitrine-osb",
            "vitrine-jobs",
        ],
    ),
    (
        "vitrine-http",
        &[
            "vitrine-domain",
            "vitrine-store",
            "vitrine-blob",
            "vitrine-jobs",
            "vitrine-checks",
        ],
    ),
    (
        "vitrine-identity",
        &[
            "vitrine-domain",
            "vitrine-store",
            "vitrine-mail",
            "vitrine-jobs",
            "vitrine-http",
        ],
    ),
    (
        "vitrine-webhooks",
        &[
            "vitrine-domain",
            "vitrine-store",
            "vitrine-mail",
            "vitrine-jobs",
            "vitrine-checks",
            "vitrine-http",
            "vitrine-outbound",
            "vitrine-webhook-rules",
        ],
    ),
    (
        "vitrine-revisions",
        &[
            "vitrine-domain",
            "vitrine-store",
            "vitrine-jobs",
            "vitrine-http",
        ],
    ),
    (
        "vitrine-api",
        &[
            "vitrine-domain",
            "vitrine-store",
            "vitrine-checks-store",
            "vitrine-blob",
            "vitrine-mail",
            "vitrine-jobs",
            "vitrine-checks",
            "vitrine-http",
            "vitrine-identity",
            "vitrine-webhooks",
            "vitrine-revisions",
        ],
    ),
    (
        "vitrine-web",
        &[
            "vitrine-domain",
            "vitrine-mail",
            "vitrine-osb",
            "vitrine-http",
        ],
    ),
    (
        "vitrine-server",
        &[
            "vitrine-checks",
            "vitrine-ingest",
            "vitrine-mailbox",
            "vitrine-store",
            "vitrine-mail",
            "vitrine-jobs",
            "vitrine-http",
            "vitrine-api",
            "vitrine-web",
            "vitrine-webhooks",
        ],
    ),
];

/// Libraries a crate must not use, and why.
const FORBIDDEN: &[(&str, &[&str], &str)] = &[
    (
        "vitrine-domain",
        &["sqlx", "tokio", "axum", "reqwest", "lettre"],
        "the domain has no I/O",
    ),
    (
        "vitrine-base",
        &["sqlx", "tokio", "axum", "reqwest", "lettre"],
        "the rules' vocabulary has no I/O",
    ),
    (
        "vitrine-calendar",
        &["sqlx", "tokio", "axum", "reqwest", "lettre"],
        "the calendar's rules have no I/O",
    ),
    (
        "vitrine-webhook-rules",
        &["sqlx", "tokio", "axum", "reqwest", "lettre"],
        "the webhooks' rules have no I/O",
    ),
    (
        "vitrine-submission",
        &["sqlx", "tokio", "axum", "reqwest", "lettre"],
        "the state machine has no I/O",
    ),
    (
        "vitrine-inbound",
        &["sqlx", "tokio", "axum", "reqwest", "lettre"],
        "reading a message is bytes in, decisions out",
    ),
    (
        "vitrine-jobs",
        &["axum", "tower", "tower-http", "hyper"],
        "the background work knows nothing of HTTP",
    ),
    (
        "vitrine-ingest",
        &["axum", "tower", "tower-http", "hyper"],
        "inbound email knows nothing of HTTP",
    ),
    (
        "vitrine-osb",
        &["sqlx", "axum", "lettre"],
        "the checker knows nothing of vitrine's storage or mail",
    ),
    (
        "vitrine-checks",
        &["axum", "tower", "tower-http", "hyper"],
        "the check runs know nothing of HTTP serving",
    ),
    (
        "vitrine-web",
        &["sqlx", "vitrine-store"],
        "the pages read and write through the API only",
    ),
];

const MAX_NON_TEST_LINES: usize = 5_200;

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates/ holds this crate")
        .to_path_buf()
}

fn workspace_crates() -> Vec<PathBuf> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(crates_dir())
        .expect("crates/ is readable")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    crates
}

fn dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).expect("Cargo.toml is readable");
    let manifest: toml::Table = toml::from_str(&text).expect("Cargo.toml parses");
    manifest
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map(|deps| deps.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn each_crate_depends_only_on_the_layers_below_it() {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    for dir in workspace_crates() {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a crate's folder has a name");
        let deps = dependencies(&dir.join("Cargo.toml"));
        if name == "vitrine" {
            continue; // the binary wires everything
        }
        let allowed = layers.get(name).unwrap_or_else(|| {
            panic!("{name} is not in the layering table: add it here and to ARCHITECTURE.md")
        });
        for dep in deps.iter().filter(|d| d.starts_with("vitrine")) {
            assert!(
                allowed.contains(&dep.as_str()),
                "{name} depends on {dep}, which is not below it (allowed: {allowed:?})"
            );
        }
        for (krate, forbidden, why) in FORBIDDEN {
            if *krate == name {
                for dep in *forbidden {
                    assert!(!deps.contains(*dep), "{name} depends on {dep}: {why}");
                }
            }
        }
    }
}

/// The source files of a crate, with the lines before their `#[cfg(test)]` module.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&dir.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            let code = text
                .split("\n#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_owned();
            (path, code)
        })
        .collect()
}

#[test]
fn no_crate_holds_more_than_about_5000_lines_of_code() {
    for dir in workspace_crates() {
        let lines: usize = sources(&dir)
            .iter()
            .map(|(_, code)| code.lines().count())
            .sum();
        assert!(
            lines <= MAX_NON_TEST_LINES,
            "{} has {lines} lines of non-test code: split it along a line of its own",
            dir.display()
        );
    }
}

/// The module path of a source file inside its crate (`src/review/submission.rs` →
/// `review::submission`; `lib.rs` and `main.rs` are the root).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src/");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The modules of the crate a file names with `crate::a::b…` in its code (comments, doc
/// links included, are not imports): the longest known prefix.
fn imported_modules(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut best = None;
        for n in 1..=segments.len() {
            let candidate = segments[..n].join("::");
            if modules.contains(&candidate) {
                best = Some(candidate);
            }
        }
        // `use crate::{a, b::c}` names several modules at once.
        if best.is_none() && rest.starts_with('{') {
            let group: String = rest.chars().take_while(|c| *c != '}').collect();
            for item in group.trim_start_matches('{').split(',') {
                let first = item.trim().split("::").next().unwrap_or_default();
                if modules.contains(first) {
                    found.insert(first.to_owned());
                }
            }
        }
        found.extend(best);
    }
    found
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    for dir in workspace_crates() {
        let src = dir.join("src");
        let files = sources(&dir);
        let modules: BTreeSet<String> = files
            .iter()
            .map(|(path, _)| module_of(&src, path))
            .filter(|m| !m.is_empty())
            .collect();
        let edges: BTreeMap<String, BTreeSet<String>> = files
            .iter()
            .map(|(path, code)| {
                let from = module_of(&src, path);
                let mut to = imported_modules(code, &modules);
                to.remove(&from);
                (from, to)
            })
            .collect();
        // Depth-first search for a circle.
        fn visit(
            node: &str,
            edges: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = stack.iter().position(|n| n == node) {
                let mut circle = stack[at..].to_vec();
                circle.push(node.to_owned());
                return Some(circle);
            }
            if done.contains(node) {
                return None;
            }
            stack.push(node.to_owned());
            for next in edges.get(node).into_iter().flatten() {
                if let Some(circle) = visit(next, edges, stack, done) {
                    return Some(circle);
                }
            }
            stack.pop();
            done.insert(node.to_owned());
            None
        }
        let mut done = BTreeSet::new();
        for node in edges.keys() {
            if let Some(circle) = visit(node, &edges, &mut Vec::new(), &mut done) {
                panic!(
                    "{}: files import each other in a circle: {}",
                    dir.display(),
                    circle.join(" -> ")
                );
            }
        }
    }
}
