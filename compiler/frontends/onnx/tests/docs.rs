//! The operator table in docs/onnx-frontend.md lists exactly the registry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn docs_table_matches_the_registry() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/onnx-frontend.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let rows: Vec<String> = neoc_onnx::supported_ops()
        .iter()
        .map(|s| format!("| {} | {}-{} |", s.op_type, s.min_opset, s.max_opset))
        .collect();
    let missing: Vec<String> = neoc_onnx::supported_ops()
        .iter()
        .zip(&rows)
        .filter(|(_, r)| !doc.contains(r.as_str()))
        .map(|(s, r)| format!("{r} {} |", s.note))
        .collect();
    assert!(
        missing.is_empty(),
        "{} lacks rows:\n{}",
        path.display(),
        missing.join("\n")
    );
    let table_rows = doc
        .lines()
        .filter(|l| {
            l.starts_with("| ")
                && l.split('|').nth(2).is_some_and(|c| {
                    c.trim().contains('-')
                        && c.trim()
                            .chars()
                            .next()
                            .is_some_and(|ch| ch.is_ascii_digit())
                })
        })
        .count();
    assert_eq!(
        table_rows,
        rows.len(),
        "the table has rows the registry lacks"
    );
}
