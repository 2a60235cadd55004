//! The artifact committed for neoc-runtime's doc examples
//! (`testmodels/artifacts/mlp_x86_64.neo`) must still be what the compiler makes of its
//! source model: same format version (else the runtime's doctests test an old format, or
//! fail to load it), same target and signature. When this fails, run
//! `testmodels/artifacts/regenerate`. (The numbers are checked against onnxruntime by the
//! doctests themselves: `cargo test -p neoc-runtime --doc`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn committed_doc_artifact_is_current() {
    let committed_path = repo().join("testmodels/artifacts/mlp_x86_64.neo");
    let tmp = tempfile::tempdir().unwrap();
    let fresh_path = tmp.path().join("mlp.neo");
    let model = repo().join("testmodels/models/mlp/model.onnx");
    let o = Command::new(env!("CARGO_BIN_EXE_neoc"))
        .args(["compile", "--target", "x86_64", "-q", "-o"])
        .arg(&fresh_path)
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let stale = "testmodels/artifacts/mlp_x86_64.neo is stale: run testmodels/artifacts/regenerate";
    let committed_bytes = std::fs::read(&committed_path).unwrap();
    let fresh_bytes = std::fs::read(&fresh_path).unwrap();
    let committed = neoc_artifact::Artifact::parse(&committed_bytes)
        .unwrap_or_else(|e| panic!("{stale} (it no longer parses: {e})"));
    let fresh = neoc_artifact::Artifact::parse(&fresh_bytes).unwrap();
    assert_eq!(
        committed.format_version(),
        fresh.format_version(),
        "{stale} (format version)"
    );
    assert_eq!(committed.target(), fresh.target(), "{stale} (target)");
    assert_eq!(committed.inputs(), fresh.inputs(), "{stale} (inputs)");
    assert_eq!(committed.outputs(), fresh.outputs(), "{stale} (outputs)");
    let names = |a: &neoc_artifact::ArtifactView<'_>| -> Vec<String> {
        a.variants().iter().map(|v| v.name.clone()).collect()
    };
    assert_eq!(names(&committed), names(&fresh), "{stale} (code variants)");
    assert_eq!(committed.weights(), fresh.weights(), "{stale} (weights)");
}
