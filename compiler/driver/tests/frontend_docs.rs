//! Each non-ONNX frontend's doc lists exactly the operators its op table supports, with
//! the same notes (`| `op` | notes |` rows after a `| <framework> op | notes |` header).
//! The ONNX frontend's table has opset ranges and is checked by its own crate.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

/// Asserts that the table under `header` in `docs/<doc>` has one row per `(name, note)`.
fn check_table(doc: &str, header: &str, table: &[(String, String)]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let expected: Vec<String> = table
        .iter()
        .map(|(n, d)| format!("| `{n}` | {d} |"))
        .collect();
    let Some(start) = text.find(header) else {
        panic!(
            "docs/{doc} has no operator table; it should be:\n{header}\n| --- | --- |\n{}",
            expected.join("\n")
        );
    };
    let rows: Vec<(String, String)> = text[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let note = cells.get(1).copied().unwrap_or_default().to_string();
            (cells[0].trim_matches('`').to_string(), note)
        })
        .collect();
    for (name, note) in table {
        assert!(
            rows.iter().any(|(n, d)| n == name && d == note),
            "docs/{doc} lacks the row `| `{name}` | {note} |`; the table should be:\n{}",
            expected.join("\n")
        );
    }
    for (name, _) in &rows {
        assert!(
            table.iter().any(|(n, _)| n == name),
            "docs/{doc} lists `{name}`, which the op table does not support"
        );
    }
}

#[test]
fn pytorch_table_matches_the_registry() {
    let table: Vec<(String, String)> = neoc_pytorch::supported_ops()
        .into_iter()
        .map(|o| (o.name.to_string(), o.note.to_string()))
        .collect();
    check_table("pytorch-frontend.md", "| aten op | notes |", &table);
}

#[test]
fn tensorflow_table_matches_the_registry() {
    let table: Vec<(String, String)> = neoc_tensorflow::supported_ops()
        .into_iter()
        .map(|o| (o.name.to_string(), o.note.to_string()))
        .collect();
    check_table("tensorflow-frontend.md", "| TF op | notes |", &table);
}

#[test]
fn mxnet_table_matches_the_registry() {
    let table: Vec<(String, String)> = neoc_mxnet::supported_ops()
        .into_iter()
        .map(|o| (o.name.to_string(), o.note.to_string()))
        .collect();
    check_table("mxnet-frontend.md", "| MXNet op | notes |", &table);
}
