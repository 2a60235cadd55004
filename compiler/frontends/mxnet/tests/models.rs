//! Every committed MXNet test model (`testmodels/mxnet/models/<name>`) imports and
//! matches MXNet's outputs when the imported graph runs on the IR's reference
//! interpreter (compiled numerics: `compiler/driver/tests/mxnet_models.rs`); bad files
//! (`testmodels/mxnet/errors/`) are refused with messages naming what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_ir::Tensor;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../testmodels/mxnet")
}

fn read_npy(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    Tensor::from_f32(shape, &npy.into_vec::<f32>().unwrap())
}

fn check(name: &str, shape: &[u64], outputs: usize) {
    let dir = root().join("models").join(name);
    let opts = neoc_mxnet::ImportOptions {
        input_shapes: vec![("data".into(), shape.to_vec())],
        params: None,
    };
    let g = neoc_mxnet::import_file(&dir.join("model-symbol.json"), &opts)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let x = read_npy(&dir.join("inputs/data.npy"));
    let outs = neoc_ir::interp::run(&g, &[x]).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(outs.len(), outputs);
    for (i, got) in outs.iter().enumerate() {
        let want = read_npy(&dir.join("expected").join(format!("output_{i}.npy")));
        assert_eq!(got.shape, want.shape, "{name} output {i}");
        let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
        let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, 0);
        for (a, b) in g.iter().zip(&w) {
            let d = (a - b).abs();
            max_abs = max_abs.max(d);
            if *b != 0.0 {
                max_rel = max_rel.max(d / b.abs());
            }
            let ok = d <= 1e-5 + 1e-4 * b.abs(); // NaN differences count as failures
            bad += usize::from(!ok);
        }
        println!("{name} output {i}: max abs err {max_abs:.3e}, max rel err {max_rel:.3e}");
        assert_eq!(bad, 0, "{name} output {i}: {bad} elements out of tolerance");
    }
}

#[test]
fn cnn() {
    check("cnn", &[2, 3, 32, 32], 2);
}

#[test]
fn mlp() {
    check("mlp", &[4, 20], 1);
}

fn err(symbol: &str, opts: &neoc_mxnet::ImportOptions) -> String {
    match neoc_mxnet::import_file(&root().join("errors").join(symbol), opts) {
        Ok(_) => panic!("{symbol} imported but must be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_the_problem() {
    let opts = neoc_mxnet::ImportOptions {
        input_shapes: vec![("data".into(), vec![1, 3, 8, 8])],
        params: None,
    };
    let e = err("unsupported-symbol.json", &opts);
    assert!(
        e.contains("Deconvolution") && e.contains("ROIPooling"),
        "{e}"
    );
    let opts = neoc_mxnet::ImportOptions {
        input_shapes: vec![("data".into(), vec![4, 20])],
        params: None,
    };
    let e = err("truncated-symbol.json", &opts);
    assert!(
        e.contains("truncated-0000.params") && e.contains("truncated"),
        "{e}"
    );
    // No --input-shape: the message says how to give it.
    let e = err(
        "truncated-symbol.json",
        &neoc_mxnet::ImportOptions::default(),
    );
    assert!(e.contains("truncated-0000.params"), "{e}");
    let dir = root().join("models/mlp/model-symbol.json");
    let e = neoc_mxnet::import_file(&dir, &neoc_mxnet::ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("--input-shape data="), "{e}");
}

#[test]
fn params_are_found_by_epoch() {
    let dir = std::env::temp_dir().join(format!("neoc-mx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "net-symbol.json",
        "net-0002.params",
        "net-0010.params",
        "net-x.params",
    ] {
        std::fs::write(dir.join(f), b"").unwrap();
    }
    let p = neoc_mxnet::find_params(&dir.join("net-symbol.json")).unwrap();
    assert!(p.ends_with("net-0010.params"), "{}", p.display());
    std::fs::remove_dir_all(&dir).unwrap();
}
