//! Pass file tests: one `#[test]` runs every `testmodels/ir/**/*.ir` file.
//!
//! A file names what to run, gives an input graph in the text IR, and the expected
//! printed graph after it, as comment lines:
//!
//! ```text
//! test pass fold-batchnorm        ; one or more, run in order; or `test pipeline O2`
//! ; comment lines start with `;`
//! graph main(%0: f32[1,2,4,4] "x") -> (%3) {
//!   ...
//! }
//! ; CHECK:
//! ; graph main(%0: f32[1,2,4,4] "x") -> (%2) {
//! ; ...
//! ```
//!
//! The output is also parsed back and must print identically (a pass must leave a
//! well-typed graph). On a mismatch the test prints the file and a line diff; all
//! failing files are reported together. `NEOC_BLESS=1 cargo test -p neoc-passes --test
//! filetests` rewrites the expected blocks in place (review the diff before committing).
//! The format is described in `docs/ir.md`.

use neoc_ir::{parse_graph, Graph};
use std::path::{Path, PathBuf};

/// The line that starts the expected output.
const CHECK: &str = "; CHECK:";

/// What a file asks to run.
#[derive(Debug, Clone, PartialEq)]
enum Command {
    Pass(String),
    Pipeline(u8),
}

/// A parsed test file.
#[derive(Debug)]
struct FileTest {
    commands: Vec<Command>,
    /// The input graph's text, with the line number (1-based) it starts on.
    input: String,
    input_line: usize,
    /// The expected output (comment prefixes removed); `None` when there is no
    /// `; CHECK:` line yet.
    expected: Option<String>,
    /// The file up to and including the `; CHECK:` line (what blessing keeps).
    head: String,
}

fn read_test(text: &str) -> Result<FileTest, String> {
    let mut commands = Vec::new();
    let mut input = String::new();
    let mut input_line = 0;
    let mut head = String::new();
    let mut expected: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(exp) = expected.as_mut() {
            let body = line.strip_prefix(';').ok_or_else(|| {
                format!(
                    "line {}: after `{CHECK}` every line must be a `;` comment",
                    i + 1
                )
            })?;
            exp.push_str(body.strip_prefix(' ').unwrap_or(body));
            exp.push('\n');
            continue;
        }
        head.push_str(line);
        head.push('\n');
        let t = line.trim();
        if t == CHECK.trim() || t.starts_with(CHECK) {
            expected = Some(String::new());
        } else if let Some(rest) = t.strip_prefix("test ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let cmd = match words.as_slice() {
                ["pass", name] => Command::Pass(name.to_string()),
                ["pipeline", level] => {
                    let n = level
                        .strip_prefix('O')
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| {
                            format!("line {}: pipeline level `{level}` is not O0..O3", i + 1)
                        })?;
                    Command::Pipeline(n)
                }
                _ => {
                    return Err(format!(
                        "line {}: expected `test pass NAME` or `test pipeline On`, found `{t}`",
                        i + 1
                    ))
                }
            };
            if !input.is_empty() {
                return Err(format!(
                    "line {}: `test` lines come before the graph",
                    i + 1
                ));
            }
            commands.push(cmd);
        } else if t.starts_with(';') {
            // A comment; kept as a blank line so parse errors keep their line numbers.
            if !input.is_empty() {
                input.push('\n');
            }
        } else if !(t.is_empty() && input.is_empty()) {
            if input.is_empty() {
                input_line = i + 1;
            }
            input.push_str(line);
            input.push('\n');
        }
    }
    if commands.is_empty() {
        return Err("no `test pass NAME` or `test pipeline On` line".into());
    }
    if input.trim().is_empty() {
        return Err("no input graph".into());
    }
    Ok(FileTest {
        commands,
        input,
        input_line,
        expected,
        head,
    })
}

/// Runs the commands on the input graph and returns the printed result.
fn run(t: &FileTest) -> Result<String, String> {
    let mut g: Graph = parse_graph(&t.input).map_err(|e| {
        format!(
            "input graph: line {}, column {}: {}",
            e.line + t.input_line - 1,
            e.column,
            e.message
        )
    })?;
    for c in &t.commands {
        match c {
            Command::Pass(name) => {
                let Some(pass) = neoc_passes::PASSES.iter().find(|p| p.name == name) else {
                    let known: Vec<&str> = neoc_passes::PASSES.iter().map(|p| p.name).collect();
                    return Err(format!(
                        "unknown pass `{name}`; known passes: {}",
                        known.join(", ")
                    ));
                };
                (pass.run)(&mut g).map_err(|e| format!("pass `{name}` failed: {e}"))?;
            }
            Command::Pipeline(level) => {
                neoc_passes::optimize(&mut g, *level, &[])
                    .map_err(|e| format!("pipeline O{level} failed: {e}"))?;
            }
        }
    }
    let out = g.to_string();
    match parse_graph(&out) {
        Ok(back) if back.to_string() == out => Ok(out),
        Ok(back) => Err(format!(
            "the output does not re-parse to the same text:\n{}",
            diff(&out, &back.to_string())
        )),
        Err(e) => Err(format!("the output does not parse: {e}\n{out}")),
    }
}

/// A line diff (`-` expected, `+` actual), from a longest common subsequence.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out += &format!("   {}\n", a[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out += &format!("  -{}\n", a[i]);
            i += 1;
        } else {
            out += &format!("  +{}\n", b[j]);
            j += 1;
        }
    }
    out
}

/// The expected block as comment lines.
fn as_comments(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                ";\n".to_string()
            } else {
                format!("; {l}\n")
            }
        })
        .collect()
}

fn ir_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            ir_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "ir") {
            out.push(p);
        }
    }
}

/// Checks one file; `Ok(true)` when it was blessed (rewritten).
fn check_file(path: &Path, bless: bool) -> Result<bool, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let t = read_test(&text)?;
    let actual = run(&t)?;
    if t.expected.as_deref() == Some(actual.as_str()) {
        return Ok(false);
    }
    if bless {
        let mut head = t.head.clone();
        if t.expected.is_none() {
            if !head.ends_with('\n') {
                head.push('\n');
            }
            head.push_str(CHECK);
            head.push('\n');
        }
        std::fs::write(path, head + &as_comments(&actual))
            .map_err(|e| format!("cannot write: {e}"))?;
        return Ok(true);
    }
    match &t.expected {
        None => Err(format!(
            "no `{CHECK}` block; the output is:\n{}",
            as_comments(&actual)
        )),
        Some(exp) => Err(format!(
            "output differs from the `{CHECK}` block (- expected, + actual):\n{}",
            diff(exp, &actual)
        )),
    }
}

#[test]
fn ir_file_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/ir");
    let mut files = Vec::new();
    ir_files(&root, &mut files);
    assert!(!files.is_empty(), "no .ir files under {}", root.display());
    let bless = std::env::var("NEOC_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut blessed = 0;
    for f in &files {
        let name = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        match check_file(f, bless) {
            Ok(true) => {
                blessed += 1;
                eprintln!("blessed testmodels/ir/{name}");
            }
            Ok(false) => {}
            Err(e) => failures.push(format!("FAIL testmodels/ir/{name}: {e}")),
        }
    }
    eprintln!(
        "{} file tests, {} failed{}",
        files.len(),
        failures.len(),
        if bless {
            format!(", {blessed} blessed")
        } else {
            String::new()
        }
    );
    if !failures.is_empty() {
        panic!(
            "{}\n\n{} of {} file tests failed (NEOC_BLESS=1 rewrites expectations)",
            failures.join("\n\n"),
            failures.len(),
            files.len()
        );
    }
}

#[test]
fn harness_reads_files_and_diffs() {
    let t = read_test(
        "test pass dce\ntest pipeline O2\n; c\ngraph g() -> () {\n}\n; CHECK:\n; graph g() -> () {\n;\n; }\n",
    )
    .unwrap();
    assert_eq!(
        t.commands,
        vec![Command::Pass("dce".into()), Command::Pipeline(2)]
    );
    assert_eq!(t.input_line, 4);
    assert_eq!(t.expected.as_deref(), Some("graph g() -> () {\n\n}\n"));
    assert!(read_test("graph g() -> () {}\n").is_err());
    assert!(read_test("test frobnicate\ngraph g() -> () {}\n").is_err());
    let t = read_test("test pass no-such-pass\ngraph g() -> () {\n}\n").unwrap();
    let e = run(&t).unwrap_err();
    assert!(
        e.contains("unknown pass `no-such-pass`") && e.contains("dce"),
        "{e}"
    );
    let t = read_test("test pass dce\n; x\n\ngraph g() -> (%1) {\n}\n").unwrap();
    let e = run(&t).unwrap_err();
    assert!(e.starts_with("input graph: line 4, column 15"), "{e}");
    assert_eq!(diff("a\nb\nc\n", "a\nc\nd\n"), "   a\n  -b\n   c\n  +d\n");
}
