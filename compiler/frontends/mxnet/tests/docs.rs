//! `docs/mxnet-frontend.md`'s operator table lists exactly the operators the op table
//! supports, with the same notes.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

#[test]
fn operator_table_matches_the_registry() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/mxnet-frontend.md"),
    )
    .unwrap_or_default();
    let table: Vec<(String, String)> = neoc_mxnet::supported_ops()
        .into_iter()
        .map(|o| (o.name.to_string(), o.note.to_string()))
        .collect();
    let expected: Vec<String> = table
        .iter()
        .map(|(n, d)| format!("| `{n}` | {d} |"))
        .collect();
    let Some(start) = doc.find("| MXNet op | notes |") else {
        panic!(
            "docs/mxnet-frontend.md has no operator table; it should be:\n| MXNet op | notes |\n| --- | --- |\n{}",
            expected.join("\n")
        );
    };
    let rows: Vec<(String, String)> = doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            (cells[0].trim_matches('`').to_string(), cells[1].to_string())
        })
        .collect();
    for (name, note) in &table {
        assert!(
            rows.iter().any(|(n, d)| n == name && d == note),
            "docs/mxnet-frontend.md lacks the row `| `{name}` | {note} |`; the table              should be:\n{}",
            expected.join("\n")
        );
    }
    for (name, _) in &rows {
        assert!(
            table.iter().any(|(n, _)| n == name),
            "docs/mxnet-frontend.md lists `{name}`, which the op table does not support"
        );
    }
}
