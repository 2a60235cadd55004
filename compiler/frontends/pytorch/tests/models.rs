//! Every committed PyTorch test model (`testmodels/pytorch/models/<name>`), in every
//! format it was saved in, imports and matches torch's outputs when the imported graph
//! runs on the IR's reference interpreter. (Compiled numerics are checked end to end in
//! `compiler/driver/tests/pytorch_models.rs`.) Each comparison prints its max errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_ir::{DType, Tensor};
use std::path::{Path, PathBuf};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../testmodels/pytorch/models")
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
        "<f4" => {
            let v: Vec<f32> = npy.into_vec().unwrap();
            Tensor::from_f32(shape, &v)
        }
        "<i8" => {
            let v: Vec<i64> = npy.into_vec().unwrap();
            Tensor::from_i64(shape, &v)
        }
        "|b1" => {
            let v: Vec<bool> = npy.into_vec().unwrap();
            let f: Vec<f64> = v.iter().map(|&b| f64::from(u8::from(b))).collect();
            Tensor::from_f64_as(DType::Bool, shape, &f)
        }
        other => panic!("{}: dtype {other}", path.display()),
    }
}

fn case(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap()
}

fn check(dir: &Path, format: &str) {
    let c = case(dir);
    let (rtol, atol) = (c["rtol"].as_f64().unwrap(), c["atol"].as_f64().unwrap());
    let path = dir.join(format);
    let name = format!("{}/{format}", dir.file_name().unwrap().to_string_lossy());
    // Every format gets the shapes (scripted archives record none; the others agree).
    let opts = neoc_pytorch::ImportOptions {
        input_shapes: c["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let dims = i["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap());
                (i["name"].as_str().unwrap().to_string(), dims.collect())
            })
            .collect(),
    };
    let g = neoc_pytorch::import_file(&path, &opts)
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
        "{name}: output count"
    );
    for (i, got) in outs.iter().enumerate() {
        let want = read_npy(&dir.join("expected").join(format!("output_{i}.npy")));
        assert_eq!(got.shape, want.shape, "{name}: output {i} shape");
        assert_eq!(got.dtype, DType::F32, "{name}: output {i} dtype");
        let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
        let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, 0usize);
        for (a, b) in g.iter().zip(&w) {
            let d = (a - b).abs();
            max_abs = max_abs.max(d);
            if *b != 0.0 {
                max_rel = max_rel.max(d / b.abs());
            }
            // NaN differences count as failures.
            let ok = d <= atol + rtol * b.abs();
            bad += usize::from(!ok);
        }
        println!("{name} output_{i}: max abs err {max_abs:.3e}, max rel err {max_rel:.3e}, {bad} of {} out of tolerance", w.len());
        assert_eq!(
            bad, 0,
            "{name}: output {i}: {bad} elements out of tolerance (max abs {max_abs:.3e})"
        );
    }
}

fn check_all(name: &str) {
    let dir = models().join(name);
    for f in case(&dir)["formats"].as_array().unwrap() {
        check(&dir, f.as_str().unwrap());
    }
}

#[test]
fn cnn() {
    check_all("cnn");
}

#[test]
fn bert() {
    check_all("bert");
}

#[test]
fn rnn() {
    check_all("rnn");
}

#[test]
fn every_model_has_a_test() {
    for e in std::fs::read_dir(models()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            ["cnn", "bert", "rnn"].contains(&n.as_str()),
            "testmodels/pytorch/models/{n} has no test"
        );
    }
}
