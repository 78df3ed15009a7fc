//! A small reader and rewriter for data-driven test files, in the format of cockroachdb's
//! `datadriven` package (as used by etcd-io/raft's `testdata/*.txt`):
//!
//! ```text
//! # A comment: kept verbatim on rewrite.
//! command arg key=value
//! ----
//! expected output, one or more lines,
//! ended by a blank line or the end of the file
//! ```
//!
//! Expected output never contains a blank line (the harness never prints one), so the simple
//! one-separator form is enough.

use std::fmt::Write as _;
use std::path::Path;

/// One command of a script: its name and its whitespace-separated arguments.
#[derive(Clone, Debug)]
pub struct Command {
    /// 1-based line of the command in its file.
    pub line: usize,
    pub name: String,
    /// Arguments that are not `key=value`, in order.
    pub positional: Vec<String>,
    /// `key=value` arguments, in order.
    pub keyed: Vec<(String, String)>,
}

impl Command {
    fn parse(line: usize, text: &str) -> Command {
        let mut words = text.split_whitespace();
        let name = words.next().expect("Command::parse: empty command line").to_string();
        let (mut positional, mut keyed) = (Vec::new(), Vec::new());
        for w in words {
            match w.split_once('=') {
                Some((k, v)) => keyed.push((k.to_string(), v.to_string())),
                None => positional.push(w.to_string()),
            }
        }
        Command { line, name, positional, keyed }
    }

    /// The value of `key=`, if given.
    pub fn key(&self, key: &str) -> Option<&str> {
        self.keyed.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A piece of a script file: text kept as is, or a command with its expected output.
enum Item {
    Verbatim(String),
    Case { command_text: String, command: Command, expected: Vec<String> },
}

fn parse(text: &str) -> Result<Vec<Item>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut items = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.starts_with('#') {
            items.push(Item::Verbatim(line.to_string()));
            i += 1;
            continue;
        }
        let command = Command::parse(i + 1, line);
        if lines.get(i + 1).map(|l| l.trim_end()) != Some("----") {
            return Err(format!("line {}: command {:?} is not followed by a ---- line", i + 1, line));
        }
        i += 2;
        let mut expected = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            expected.push(lines[i].trim_end().to_string());
            i += 1;
        }
        // The blank line that ends the output belongs to the case; it is written back by it.
        if i < lines.len() {
            i += 1;
        }
        items.push(Item::Case { command_text: line.trim_end().to_string(), command, expected });
    }
    Ok(items)
}

/// Output lines of a handler: trailing spaces trimmed, never empty (an empty output is `ok`).
fn normalize(output: &str) -> Vec<String> {
    let lines: Vec<String> = output.lines().map(|l| l.trim_end().to_string()).collect();
    assert!(lines.iter().all(|l| !l.is_empty()), "datadriven: a handler printed a blank line: {output:?}");
    if lines.is_empty() {
        vec!["ok".to_string()]
    } else {
        lines
    }
}

/// Runs every command of the file at `path` through `handler`. In rewrite mode the file is
/// rewritten with the actual outputs; otherwise the first mismatch is returned as a readable
/// diff. A panic inside the handler is reported with the file and line of the command.
pub fn run_file(path: &Path, rewrite: bool, mut handler: impl FnMut(&Command) -> String) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let items = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut rewritten = String::new();
    let mut mismatches = String::new();
    for item in &items {
        match item {
            Item::Verbatim(line) => {
                rewritten.push_str(line);
                rewritten.push('\n');
            }
            Item::Case { command_text, command, expected } => {
                let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(command)))
                    .unwrap_or_else(|panic| {
                        let why = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        panic!("{name}:{}: `{command_text}` panicked: {why}", command.line)
                    });
                let actual = normalize(&output);
                if &actual != expected && mismatches.is_empty() {
                    let _ = writeln!(
                        mismatches,
                        "{name}:{}: `{command_text}` output differs (-expected +actual):",
                        command.line
                    );
                    mismatches.push_str(&line_diff(expected, &actual));
                }
                let _ = writeln!(rewritten, "{command_text}\n----");
                for l in &actual {
                    rewritten.push_str(l);
                    rewritten.push('\n');
                }
                rewritten.push('\n');
            }
        }
    }
    if rewrite {
        let rewritten = format!("{}\n", rewritten.trim_end());
        if rewritten != text {
            std::fs::write(path, rewritten).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        return Ok(());
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches)
    }
}

/// Lines of unchanged context shown around each change in a diff.
const DIFF_CONTEXT_LINES: usize = 3;

/// A line diff by longest common subsequence: ` ` kept, `-` only expected, `+` only actual.
/// Only changes and `DIFF_CONTEXT_LINES` of context around them are shown; `...` marks a gap.
pub fn line_diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    // lcs[i][j]: length of the LCS of expected[i..] and actual[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            ops.push((' ', &expected[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', &actual[j]));
            j += 1;
        } else {
            ops.push(('-', &expected[i]));
            i += 1;
        }
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let near_change = |k: usize| changed.iter().any(|&c| c.abs_diff(k) <= DIFF_CONTEXT_LINES);
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            let _ = writeln!(out, "{op} {line}");
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push_str("  ...\n");
    }
    out
}
