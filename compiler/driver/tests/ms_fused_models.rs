//! onnxruntime's fused transformer operators (com.microsoft Attention, QAttention,
//! SkipLayerNormalization, BiasGelu, FastGelu, EmbedLayerNormalization, ...):
//! every case under `testmodels/ms_fused/` (`generate.py` there: hand-built single-op
//! models and a small BERT through `optimize_model` and `quantize_dynamic`) compiled,
//! run and compared with onnxruntime's outputs within its case.json tolerances; the
//! optimized BERT must compile to the original's plan (plus the padding-mask
//! conversion); the forms neoc refuses give an error naming the node, the operator and the reason. Figures are
//! printed (`cargo test -- --nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::Model;
use std::path::{Path, PathBuf};

mod common;
use common::{case, errors, read_npy, stored_inputs, tensor_refs, values};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/ms_fused")
}

/// Compiles `name` at `opt_level`, runs it on the stored inputs and compares every
/// output; returns the number of kernels.
fn check(name: &str, opt_level: u8) -> usize {
    let dir = root().join(name);
    let c = case(&dir);
    let (rtol, atol) = (c["rtol"].as_f64().unwrap(), c["atol"].as_f64().unwrap());
    let opts = CompileOptions {
        target: neoc_target_spec::host_target_name().into(),
        opt_level,
        ..CompileOptions::default()
    };
    let (artifact, report) = compile_file(&dir.join("model.onnx"), &opts)
        .unwrap_or_else(|e| panic!("{name} -O{opt_level}: compile failed: {e}"));
    let model = Model::from_bytes(artifact.to_bytes()).unwrap();
    let inputs = stored_inputs(&model, &dir);
    let outputs = model
        .run(&tensor_refs(&inputs))
        .unwrap_or_else(|e| panic!("{name} -O{opt_level}: run failed: {e}"));
    for (spec, got) in model.outputs().iter().zip(&outputs) {
        let want = read_npy(&dir.join("expected").join(format!("{}.npy", spec.name)));
        assert_eq!(got.dtype(), want.dtype, "{name}/{}: dtype", spec.name);
        assert_eq!(got.shape(), &want.shape[..], "{name}/{}: shape", spec.name);
        let wv = want.values();
        let e = errors(&values(got.dtype(), got.as_bytes()), &wv, rtol, atol);
        println!(
            "{name}/{} [-O{opt_level}, {} kernels]: max abs err {:.3e}, max rel err {:.3e}, \
             {} of {} outside rtol {rtol} atol {atol}",
            spec.name,
            report.steps,
            e.max_abs,
            e.max_rel,
            e.bad,
            wv.len()
        );
        assert_eq!(
            e.bad, 0,
            "{name}/{} -O{opt_level}: out of tolerance",
            spec.name
        );
    }
    report.steps
}

/// Every single-op case, unoptimized and at -O2.
#[test]
fn single_op_models_match_onnxruntime() {
    let mut n = 0;
    for e in std::fs::read_dir(root()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("ops_") {
            for level in [0, 2] {
                check(&name, level);
            }
            n += 1;
        }
    }
    assert!(n >= 18, "only {n} single-op cases");
}

/// The optimize_model output (Attention with 1-D key lengths from ReduceSum,
/// SkipLayerNormalization, BiasGelu, default-domain LayerNormalization at opset 14)
/// at every level, and its plan against the original's: the same kernels per layer;
/// at -O2 and above at most two more in all, the conversion of the [B, S] padding
/// mask onnxruntime's optimizer rewrites as key lengths (Cast, ReduceSum) and neoc
/// turns back into an additive mask (Less, Where) where the original computed it in
/// two (Cast, one elementwise kernel).
#[test]
fn optimized_bert_matches_onnxruntime() {
    for level in 0..=3 {
        let fused = check("bert_tiny_opt", level);
        let original = check("bert_tiny_float", level);
        println!("-O{level}: optimize_model output {fused} kernels, original {original}");
        if level >= 2 {
            assert!(
                fused <= original + 2,
                "-O{level}: the optimized model needs {fused} kernels, the original {original}"
            );
        }
    }
}

/// optimize_model at opt_level 2 (the embedding sum's LayerNorm fused into a
/// SkipLayerNormalization too).
#[test]
fn optimized_bert_level2_matches_onnxruntime() {
    for level in [0, 2] {
        check("bert_tiny_opt2", level);
    }
}

/// quantize_dynamic of the optimized model: QAttention.
#[test]
fn quantized_optimized_bert_matches_onnxruntime() {
    for level in [0, 2] {
        check("bert_tiny_opt_dyn", level);
    }
}

/// The forms neoc refuses: an error naming the node, the operator and what is wrong.
#[test]
fn unsupported_forms_are_refused() {
    for (file, want) in [
        (
            "attention_past.onnx",
            "past state (input 4) is not supported",
        ),
        ("attention_rotary.onnx", "do_rotary=1 is not supported"),
        (
            "attention_present.onnx",
            "output 1 (\"present\") is not supported",
        ),
        ("attention_heads.onnx", "5 heads must divide each"),
        (
            "attention_mask4d.onnx",
            "mask_index shape [2, 1, 8, 8] is not supported",
        ),
    ] {
        let path = root().join("errors").join(file);
        let err = match compile_file(&path, &CompileOptions::default()) {
            Ok(_) => panic!("{file}: compiled, expected an error"),
            Err(e) => format!("{e}"),
        };
        println!("{file}: {err}");
        assert!(err.contains(want), "{file}: {err}");
        assert!(err.contains("Attention"), "{file}: no operator in {err}");
    }
}
