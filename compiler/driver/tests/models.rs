//! End-to-end numerics: every model under `testmodels/models/` is compiled, run through
//! the runtime on its stored inputs, and compared with the stored onnxruntime outputs
//! within the tolerances of its `case.json`. Every comparison prints max abs/rel error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::{DType, Model, TensorRef};
use std::path::{Path, PathBuf};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/models")
}

struct Npy {
    shape: Vec<u64>,
    data: Vec<f32>,
}

fn read_npy(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let data = npy.into_vec::<f32>().unwrap();
    Npy { shape, data }
}

struct Case {
    rtol: f64,
    atol: f64,
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("case.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Case {
        rtol: v["rtol"].as_f64().unwrap(),
        atol: v["atol"].as_f64().unwrap(),
    }
}

/// Compiles and runs one model for `target`, asserting every output matches.
fn check_model(name: &str, target: &str) {
    let dir = models_dir().join(name);
    let case = read_case(&dir);
    let opts = CompileOptions {
        target: target.into(),
        ..CompileOptions::default()
    };
    let t = std::time::Instant::now();
    let (artifact, _) = compile_file(&dir.join("model.onnx"), &opts)
        .unwrap_or_else(|e| panic!("{name}: compile failed: {e}"));
    let compile_s = t.elapsed().as_secs_f64();
    let model = Model::from_bytes(artifact.to_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let inputs: Vec<Npy> = model
        .inputs()
        .iter()
        .map(|s| read_npy(&dir.join("inputs").join(format!("{}.npy", s.name))))
        .collect();
    let refs: Vec<TensorRef<'_>> = inputs
        .iter()
        .map(|t| TensorRef::f32(&t.shape, &t.data))
        .collect();
    let outputs = model
        .run(&refs)
        .unwrap_or_else(|e| panic!("{name}: run failed: {e}"));
    let mut failures = Vec::new();
    for (spec, got) in model.outputs().iter().zip(&outputs) {
        let want = read_npy(&dir.join("expected").join(format!("{}.npy", spec.name)));
        assert_eq!(got.dtype(), DType::F32);
        assert_eq!(got.shape(), &want.shape[..], "{name}/{}: shape", spec.name);
        let got = got.as_f32().unwrap();
        let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, 0usize);
        for (g, w) in got.iter().zip(&want.data) {
            let (g, w) = (f64::from(*g), f64::from(*w));
            let abs = (g - w).abs();
            let ok = abs <= case.atol + case.rtol * w.abs() || (g.is_nan() && w.is_nan());
            max_abs = max_abs.max(abs);
            if w != 0.0 {
                max_rel = max_rel.max(abs / w.abs());
            }
            bad += usize::from(!ok);
        }
        println!(
            "{name}/{} [{target}, compiled in {compile_s:.2}s]: max abs err {max_abs:.3e}, max rel err {max_rel:.3e}, {bad} of {} outside rtol {} atol {}",
            spec.name,
            got.len(),
            case.rtol,
            case.atol
        );
        if bad > 0 {
            failures.push(format!(
                "{}: {bad} elements out of tolerance (max abs {max_abs:.3e})",
                spec.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name} [{target}]: {}",
        failures.join("; ")
    );
}

/// The widest single-level target this machine runs.
fn host() -> &'static str {
    neoc_target_spec::host_target_name()
}

macro_rules! model_tests {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            check_model($name, host());
        }
    )*};
}

model_tests! {
    mlp => "mlp",
    lenet => "lenet",
    resnet18 => "resnet18",
    mobilenet_v2 => "mobilenet_v2",
    ops_conv => "ops_conv",
    ops_pool => "ops_pool",
    ops_elementwise => "ops_elementwise",
    ops_linear => "ops_linear",
    ops_shape => "ops_shape",
    ops_bn => "ops_bn",
    ops_opset7 => "ops_opset7",
    ops_opset11 => "ops_opset11",
    ops_opset21 => "ops_opset21",
    ops_reduce => "ops_reduce",
    ops_reduce18 => "ops_reduce18",
    ops_pad => "ops_pad",
    ops_pad18 => "ops_pad18",
    ops_pad19 => "ops_pad19",
    ops_where_expand => "ops_where_expand",
}

/// The AVX2 code path is checked too (on an AVX-512 machine the runtime would otherwise
/// never run it): these models are compiled for the AVX2 level only.
#[test]
fn avx2_level_matches_too() {
    for name in ["lenet", "ops_conv", "ops_elementwise", "ops_linear"] {
        check_model(name, "x86_64-avx2");
    }
}

/// Every directory under testmodels/models is covered by a test above.
#[test]
fn every_model_has_a_test() {
    let known = [
        "mlp",
        "lenet",
        "resnet18",
        "mobilenet_v2",
        "ops_conv",
        "ops_pool",
        "ops_elementwise",
        "ops_linear",
        "ops_shape",
        "ops_bn",
        "ops_opset7",
        "ops_opset11",
        "ops_opset21",
        "ops_reduce",
        "ops_reduce18",
        "ops_pad",
        "ops_pad18",
        "ops_pad19",
        "ops_where_expand",
    ];
    for e in std::fs::read_dir(models_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            known.contains(&name.as_str()),
            "testmodels/models/{name} has no test"
        );
    }
}
