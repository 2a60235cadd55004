//! `neoc` with TensorFlow and MXNet models: SavedModel directories and frozen graphs,
//! symbol files with their params, the `--signature`/`--outputs`/`--params` flags, and
//! `neoc run` reading and writing tensors under the model's own names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn neoc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neoc"))
        .args(args)
        .output()
        .expect("neoc runs")
}

fn testmodels() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

fn assert_fails(o: &Output, needles: &[&str]) {
    assert_fails_with(o, 1, needles)
}

/// A failure with another exit code (2: a flag that does not apply, see docs/cli.md).
fn assert_fails_with(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap()
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() <= 1e-5 + 1e-4 * b.abs(), "{a} vs {b}");
    }
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neoc-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn saved_model_compiles_and_runs_by_signature_names() {
    let dir = scratch("tf-sm");
    let m = testmodels().join("tensorflow/models/bert");
    let art = dir.join("bert.neo");
    let o = neoc(&[
        "compile",
        s(&m.join("saved_model")),
        "--input-shape",
        "input_ids=1,32",
        "-o",
        s(&art),
    ]);
    ok(&o);
    let out = dir.join("out");
    let input = format!("input_ids={}", s(&m.join("inputs/input_ids.npy")));
    ok(&neoc(&[
        "run",
        s(&art),
        "--input",
        &input,
        "--output-dir",
        s(&out),
    ]));
    for i in 0..2 {
        close(
            &read_f32(&out.join(format!("output_{i}.npy"))),
            &read_f32(&m.join(format!("expected/output_{i}.npy"))),
        );
    }
    // Another signature, and one that does not exist.
    ok(&neoc(&[
        "compile",
        s(&m.join("saved_model")),
        "--signature",
        "serve",
        "--input-shape",
        "input_ids=1,32",
        "-q",
        "-o",
        s(&art),
    ]));
    let o = neoc(&["compile", s(&m.join("saved_model")), "--signature", "nope"]);
    assert_fails(&o, &["no signature \"nope\"", "\"serving_default\""]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn frozen_graph_outputs_are_chosen_by_name() {
    let dir = scratch("tf-frozen");
    let m = testmodels().join("tensorflow/models/cnn");
    let art = dir.join("cnn.neo");
    ok(&neoc(&[
        "compile",
        s(&m.join("frozen.pb")),
        "--outputs",
        "Identity_1",
        "-q",
        "-o",
        s(&art),
    ]));
    let out = dir.join("out");
    let input = format!("image={}", s(&m.join("inputs/image.npy")));
    ok(&neoc(&[
        "run",
        s(&art),
        "--input",
        &input,
        "--output-dir",
        s(&out),
    ]));
    close(
        &read_f32(&out.join("Identity_1.npy")),
        &read_f32(&m.join("expected/output_1.npy")),
    );
    assert!(!out.join("Identity.npy").exists());
    let o = neoc(&["compile", s(&m.join("frozen.pb")), "--outputs", "nope:0"]);
    assert_fails(&o, &["frozen.pb", "no node named \"nope\""]);
    let onnx = testmodels().join("models/mlp/model.onnx");
    let o = neoc(&["compile", s(&onnx), "--outputs", "y"]);
    assert_fails_with(&o, 2, &["--outputs applies to TensorFlow"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mxnet_symbol_with_params() {
    let dir = scratch("mx");
    let m = testmodels().join("mxnet/models/mlp");
    let sym = m.join("model-symbol.json");
    let art = dir.join("mlp.neo");
    let o = neoc(&["compile", s(&sym), "-o", s(&art)]);
    assert_fails(&o, &["--input-shape data="]);
    ok(&neoc(&[
        "compile",
        s(&sym),
        "--input-shape",
        "data=4,20",
        "--params",
        s(&m.join("model-0000.params")),
        "-q",
        "-o",
        s(&art),
    ]));
    let out = dir.join("out");
    let input = format!("data={}", s(&m.join("inputs/data.npy")));
    ok(&neoc(&[
        "run",
        s(&art),
        "--input",
        &input,
        "--output-dir",
        s(&out),
    ]));
    close(
        &read_f32(&out.join("mlp0_dense2_fwd_output.npy")),
        &read_f32(&m.join("expected/output_0.npy")),
    );
    let bad = testmodels().join("mxnet/errors/truncated-0000.params");
    let o = neoc(&[
        "compile",
        s(&sym),
        "--input-shape",
        "data=4,20",
        "--params",
        s(&bad),
    ]);
    assert_fails(&o, &["truncated-0000.params", "truncated"]);
    let o = neoc(&["compile", s(&sym), "--framework", "tensorflow"]);
    assert_fails(&o, &["model-symbol.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
