//! Every committed TensorFlow test model (`testmodels/tensorflow/models/<name>`), in
//! every form it was saved in (frozen graph, SavedModel), imports and matches
//! TensorFlow's outputs when the imported graph runs on the IR's reference interpreter.
//! (Compiled numerics are checked end to end in
//! `compiler/driver/tests/tensorflow_models.rs`.) Each comparison prints its max errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_ir::{DType, Tensor};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../testmodels/tensorflow")
}

pub fn read_npy(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => panic!("{}: {other:?}", path.display()),
    };
    match descr.as_str() {
        "<f4" => Tensor::from_f32(shape, &npy.into_vec::<f32>().unwrap()),
        "<i8" => Tensor::from_i64(shape, &npy.into_vec::<i64>().unwrap()),
        "<i4" => {
            let v: Vec<f64> = npy
                .into_vec::<i32>()
                .unwrap()
                .iter()
                .map(|&x| x.into())
                .collect();
            Tensor::from_f64_as(DType::I32, shape, &v)
        }
        other => panic!("{}: dtype {other}", path.display()),
    }
}

fn case(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap()
}

pub fn options(c: &serde_json::Value) -> neoc_tensorflow::ImportOptions {
    let input_shapes = c["input_shapes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let d = v.as_array().unwrap().iter().map(|d| d.as_u64().unwrap());
            (k.clone(), d.collect())
        })
        .collect();
    neoc_tensorflow::ImportOptions {
        input_shapes,
        ..Default::default()
    }
}

fn check(dir: &Path, format: &str) {
    let c = case(dir);
    let (rtol, atol) = (c["rtol"].as_f64().unwrap(), c["atol"].as_f64().unwrap());
    let name = format!("{}/{format}", dir.file_name().unwrap().to_string_lossy());
    let g = neoc_tensorflow::import_path(&dir.join(format), &options(&c))
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    let inputs: Vec<Tensor> = g
        .inputs()
        .iter()
        .map(|&v| read_npy(&dir.join("inputs").join(format!("{}.npy", g.value(v).name))))
        .collect();
    let outs = neoc_ir::interp::run(&g, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        outs.len(),
        c["outputs"].as_array().unwrap().len(),
        "{name}: outputs"
    );
    for (i, got) in outs.iter().enumerate() {
        let want = read_npy(&dir.join("expected").join(format!("output_{i}.npy")));
        assert_eq!(got.shape, want.shape, "{name} output {i}: shape");
        let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
        let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, 0);
        for (a, b) in g.iter().zip(&w) {
            let d = (a - b).abs();
            max_abs = max_abs.max(d);
            if *b != 0.0 {
                max_rel = max_rel.max(d / b.abs());
            }
            let ok = d <= atol + rtol * b.abs(); // NaN differences count as failures
            bad += usize::from(!ok);
        }
        println!(
            "{name} output {i} {:?}: max abs err {max_abs:.3e}, max rel err {max_rel:.3e}, \
             {bad} of {} outside rtol {rtol} atol {atol}",
            got.shape,
            w.len()
        );
        assert_eq!(bad, 0, "{name} output {i}: {bad} elements out of tolerance");
    }
}

fn check_model(dir: &Path) {
    for f in case(dir)["formats"].as_array().unwrap() {
        check(dir, f.as_str().unwrap());
    }
}

#[test]
fn cnn() {
    check_model(&root().join("models/cnn"));
}

#[test]
fn bert() {
    check_model(&root().join("models/bert"));
}

#[test]
fn ops() {
    check_model(&root().join("models/ops"));
}

#[test]
fn tf1_saved_model() {
    check_model(&root().join("models/tf1"));
}

#[test]
fn keras2() {
    check_model(&root().join("models/keras2"));
}
