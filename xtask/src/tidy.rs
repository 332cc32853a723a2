//! Checks that guard the tree's own conventions, run as ordinary tests so that a plain
//! `cargo test` catches them too: every Rust file opens with a `//!` line, no unfinished-work
//! markers land, and every known shortcoming is a `FIXME:` with a sentence.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust files git tracks or would track (untracked but not ignored), relative to the root.
fn rust_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let output = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.rs",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(output.status.success(), "git ls-files failed: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| root.join(line))
        .filter(|path| path.exists())
        .collect()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The markers of unfinished work that never land, spelled in pieces so this file passes.
fn forbidden_markers() -> [String; 4] {
    [
        ["TO", "DO"].concat(),
        ["todo", "!("].concat(),
        ["unimplemented", "!("].concat(),
        ["#[", "ignore"].concat(),
    ]
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let files = rust_files();
    assert!(files.len() > 20, "found only {} Rust files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|path| !read(path).starts_with("//!"))
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` line: {missing:#?}"
    );
}

#[test]
fn no_unfinished_work_markers_land() {
    let markers = forbidden_markers();
    let mut found = Vec::new();
    for path in rust_files() {
        for (number, line) in read(&path).lines().enumerate() {
            if let Some(marker) = markers.iter().find(|marker| line.contains(marker.as_str())) {
                found.push(format!("{}:{}: {marker}", path.display(), number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "write a `FIXME:` with a sentence instead: {found:#?}"
    );
}

#[test]
fn every_fixme_says_what_and_why() {
    // Spelled in pieces so this file's own messages are not taken for shortcomings.
    let mark = ["FIX", "ME"].concat();
    let mut bare = Vec::new();
    for path in rust_files() {
        for (number, line) in read(&path).lines().enumerate() {
            let Some((_, rest)) = line.split_once(mark.as_str()) else {
                continue;
            };
            let sentence = rest.strip_prefix(':').map(str::trim).unwrap_or_default();
            if sentence.split_whitespace().count() < 4 {
                bare.push(format!("{}:{}", path.display(), number + 1));
            }
        }
    }
    assert!(
        bare.is_empty(),
        "write `{mark}: <what and why>` at: {bare:#?}"
    );
}
