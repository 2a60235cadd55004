//! The text IR round-trips on every test model: for each `testmodels/models/*/model.onnx`,
//! the imported graph and the graph after the `-O2` pipeline (with its fused nodes) print,
//! parse back structurally equal, and print the same text again; the DOT rendering of
//! the optimized graph is well-formed.

use neoc_ir::dot::to_dot;
use neoc_ir::{parse_graph, Graph};
use std::path::Path;

fn roundtrip(g: &Graph, what: &str) -> Result<(), String> {
    let text = g.to_string();
    let back = parse_graph(&text).map_err(|e| {
        let line = text.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
        let line: String = line.chars().take(300).collect();
        format!("{what}: {e}\n  {line}")
    })?;
    if back.to_string() != text {
        return Err(format!(
            "{what}: printing the parsed graph gives different text"
        ));
    }
    if !g.structurally_equal(&back) {
        return Err(format!(
            "{what}: the parsed graph is not structurally equal"
        ));
    }
    Ok(())
}

#[test]
fn every_test_model_round_trips() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/models");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in dirs {
        let model = dir.join("model.onnx");
        if !model.exists() {
            continue;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut g = match neoc_onnx::import_file(&model, &Default::default()) {
            Ok(g) => g,
            Err(e) => {
                // Import is the frontend tests' business; say so and go on.
                eprintln!("skipping {name}: import failed: {e}");
                continue;
            }
        };
        checked += 1;
        if let Err(e) = roundtrip(&g, &format!("{name} (imported)")) {
            failures.push(e);
            continue;
        }
        if let Err(e) = neoc_passes::optimize(&mut g, 2, &[]) {
            failures.push(format!("{name}: -O2 failed: {e}"));
            continue;
        }
        if let Err(e) = roundtrip(&g, &format!("{name} (-O2)")) {
            failures.push(e);
        }
        let dot = to_dot(&g, &name);
        if dot.matches('{').count() != dot.matches('}').count() || !dot.starts_with("digraph") {
            failures.push(format!("{name}: malformed DOT"));
        }
    }
    eprintln!("{checked} models round-tripped, {} failed", failures.len());
    assert!(checked >= 10, "only {checked} models could be imported");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
