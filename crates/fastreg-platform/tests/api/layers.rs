//! The platform's dependency rule, checked on its source: imports point one way,
//!
//! `app → http → jobs → service → state → settings → store → rules → leaves → domain`,
//!
//! where the leaves (`clock`, `secrets`, `redact`, `metrics`, `error`, `input`) import nothing but
//! `domain`, and `settings` sits just above `store` because it names the store's durability and
//! the rules' policy. A file may import its own top-level module and anything below it; an
//! import of anything above it is named with the file and the path, so a newcomer who reads
//! `lib.rs` downward never meets a file that depends on something above it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module's rank: a module may import only modules of a lower rank (and itself).
const LAYERS: &[(&str, u32)] = &[
    ("domain", 0),
    ("clock", 1),
    ("secrets", 1),
    ("redact", 1),
    ("metrics", 1),
    ("error", 1),
    ("input", 1),
    ("rules", 2),
    ("store", 3),
    ("settings", 4),
    ("state", 5),
    ("service", 6),
    ("jobs", 7),
    ("http", 8),
    ("app", 9),
    ("testing", 10),
];

fn rank(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file (`http/pages/mod.rs` → `["http", "pages"]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    &s[..end]
}

/// The first segment of every top-level item of a `{…}` group starting at `s[0] == '{'`.
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = false;
    for (i, c) in s.char_indices() {
        match c {
            '{' => {
                depth += 1;
                expect_head = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if expect_head && is_ident_char(c) => {
                heads.push(ident(&s[i..]).to_string());
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

/// The top-level modules a file's code names through `crate::` or climbs to through `super::`.
fn imported_top_modules(code: &str, module: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded = rest[..at].chars().next_back().is_some_and(is_ident_char);
        let after = &rest[at + "crate::".len()..];
        if !preceded {
            if after.starts_with('{') {
                for head in group_heads(after) {
                    found.push((head.clone(), format!("crate::{{{head}…}}")));
                }
            } else {
                let head = ident(after);
                found.push((head.to_string(), format!("crate::{head}")));
            }
        }
        rest = after;
    }
    // A file-level `use super::…` that climbs to the crate root names a top-level module too
    // (indented ones are in inline modules, whose `super` is the file's own module).
    for line in code.lines().filter(|l| l.starts_with("use super::")) {
        let mut after = &line["use ".len()..];
        let mut climbs = 0;
        while let Some(next) = after.strip_prefix("super::") {
            climbs += 1;
            after = next;
        }
        if climbs < module.len() {
            continue;
        }
        let heads = if after.starts_with('{') {
            group_heads(after)
        } else {
            vec![ident(after).to_string()]
        };
        for head in heads.into_iter().filter(|h| !h.is_empty()) {
            found.push((head.clone(), format!("{}{head}", "super::".repeat(climbs))));
        }
    }
    found
}

/// The file without its comment lines (docs link to modules above without importing them).
fn code_of(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_source_file_imports_a_module_above_its_own_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 30, "found only {} source files", files.len());
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = module_path(relative);
        let Some(own) = module.first() else {
            continue; // lib.rs: the module list itself
        };
        let Some(own_rank) = rank(own) else {
            unplaced.push(format!("{} (module `{own}`)", relative.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("source is readable");
        for (target, path) in imported_top_modules(&code_of(&text), &module) {
            if target == *own {
                continue;
            }
            match rank(&target) {
                Some(r) if r < own_rank => {}
                Some(_) => upward
                    .entry(relative.display().to_string())
                    .or_default()
                    .push(format!("{path} (`{target}` is not below `{own}`)")),
                None => unplaced.push(format!("{} imports `{path}`", relative.display())),
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "top-level modules without a layer (add them to LAYERS): {unplaced:#?}"
    );
    assert!(
        upward.is_empty(),
        "upward imports (app → http → jobs → service → state → settings → store → rules → \
         leaves → domain): {upward:#?}"
    );
}

#[test]
fn the_route_table_vocabulary_imports_none_of_its_http_siblings() {
    let route = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/route.rs");
    let code = code_of(&std::fs::read_to_string(route).expect("route.rs is readable"));
    assert!(
        !code.contains("super::") && !code.contains("crate::http"),
        "http/route.rs must stay a leaf of the HTTP layer"
    );
}

#[test]
fn the_checker_reads_grouped_and_climbing_imports() {
    let module = ["service".to_string(), "wechat".to_string()];
    let code = "use crate::{domain::X, store::{Tx, view::View}};\nuse super::super::http::Call;";
    let heads: Vec<String> = imported_top_modules(code, &module)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(heads, ["domain", "store", "http"]);
}
