//! Shared by the C-example and concurrency tests: a real model compiled by the driver,
//! and the onnxruntime references stored beside it in testmodels/.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use neoc_driver::{compile_file, CompileOptions};

pub fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testmodels/models")
        .join(name)
}

/// A scratch directory unique to this test process.
pub fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("neoc-capi-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A float32 `.npy` file: (shape, values).
pub fn read_f32_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// testmodels/models/lenet compiled for this machine's architecture, written once per
/// test process.
pub fn lenet_artifact() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let opts = CompileOptions {
            target: if cfg!(target_arch = "aarch64") {
                "aarch64"
            } else {
                "x86_64"
            }
            .into(),
            ..CompileOptions::default()
        };
        let (artifact, _) = compile_file(&model_dir("lenet").join("model.onnx"), &opts).unwrap();
        let path = scratch_dir().join("lenet.neo");
        artifact.write_to(&path).unwrap();
        path
    })
    .clone()
}

/// The index of the largest score in each row of `scores` (`classes` wide).
pub fn argmax_rows(scores: &[f32], classes: usize) -> Vec<usize> {
    scores
        .chunks_exact(classes)
        .map(|row| (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best }))
        .collect()
}

/// Asserts `got` matches the reference `want` within `rtol`/`atol` (the case's).
pub fn assert_close(got: &[f32], want: &[f32], rtol: f32, atol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}: element {i}: got {g}, reference {w}"
        );
    }
}

/// The (rtol, atol) of a model's case.json.
pub fn tolerances(name: &str) -> (f32, f32) {
    let text = std::fs::read_to_string(model_dir(name).join("case.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (
        v["rtol"].as_f64().unwrap() as f32,
        v["atol"].as_f64().unwrap() as f32,
    )
}
