//! The layers point one way: every `crate::` path in `src/` names a module of a lower layer
//! than the file's own (or its own module). A new import that runs back up, or two modules
//! of one layer leaning on each other, fails here with the file and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module's layer, from the ground up. Modules of one layer may not import
/// each other.
const LAYERS: &[&[&str]] = &[
    &["domain", "metric_names"],
    &["store"],
    &["targets", "metrics", "config"],
    &["dispatch", "jobs"],
    &["api"],
    &["web", "forms"],
    &["app", "client"],
    &["bench"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/store/tx.rs` → `store`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The modules a line names through `crate::` (also inside `use crate::{a, b}` groups).
fn crate_paths(line: &str) -> Vec<String> {
    let mut named = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    named.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            named.push(name);
        }
        rest = after;
    }
    named
}

#[test]
fn no_import_runs_back_up_or_across_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        if matches!(module.as_str(), "main" | "lib") {
            continue;
        }
        let own = layer_of(&module)
            .unwrap_or_else(|| panic!("src/{module} has no layer: add it to LAYERS"));
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for named in crate_paths(code) {
                if named == module {
                    continue;
                }
                let Some(theirs) = layer_of(&named) else {
                    continue;
                };
                if theirs >= own {
                    wrong
                        .entry(format!("{module} -> {named}"))
                        .or_default()
                        .push(format!(
                            "{}:{}",
                            file.strip_prefix(&src).unwrap().display(),
                            n + 1
                        ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run back up or across a layer (see LAYERS): {wrong:#?}"
    );
}

#[test]
fn the_path_reader_sees_groups_and_plain_paths() {
    assert_eq!(crate_paths("use crate::store::{Page, Store};"), ["store"]);
    assert_eq!(
        crate_paths("use crate::{api, domain::ids};"),
        ["api", "domain"]
    );
    assert_eq!(
        crate_paths("let x = crate::targets::MASK; crate::store::Store::open()"),
        ["targets", "store"]
    );
}
