//! Runs every script in `tests/testdata/` (see `tests/scenario/mod.rs` for the format and the
//! command vocabulary).
//!
//! - `SENATE_REWRITE=1`: rewrite the expected outputs with what the scripts now print.
//! - `SENATE_SCENARIO=name`: run only `testdata/name.txt` (this also runs a `pending_` script,
//!   which the full run skips: those show open core bugs).

mod scenario;

use scenario::commands::Scenario;
use scenario::datadriven::run_file;
use std::path::PathBuf;

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn scripts() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let only = std::env::var("SENATE_SCENARIO").ok().filter(|s| !s.is_empty());
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter(|p| {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            match &only {
                Some(name) => stem == *name,
                None => !stem.starts_with("pending_"),
            }
        })
        .collect();
    paths.sort();
    paths
}

#[test]
fn scenarios() {
    let rewrite = env_flag("SENATE_REWRITE");
    let paths = scripts();
    assert!(!paths.is_empty(), "no scenario scripts found");
    let mut failures = Vec::new();
    for path in &paths {
        let mut scenario = Scenario::default();
        match run_file(path, rewrite, |cmd| scenario.run(cmd)) {
            Ok(()) => eprintln!("scenario {}: ok", path.display()),
            Err(diff) => failures.push(diff),
        }
    }
    assert!(failures.is_empty(), "{} scenario(s) failed:\n\n{}", failures.len(), failures.join("\n"));
}
